package bert

// MaxSequence is the longest input, in tokens, the position embeddings can number:
// max_position_embeddings, less RoBERTa's two reserved rows (its positions start at
// padding_idx + 1 = 2, as transformers' create_position_ids_from_input_ids).
func (c Config) MaxSequence() int64 {
	if c.ModelType == "roberta" {
		return c.MaxPositionEmbeddings - 2
	}
	return c.MaxPositionEmbeddings
}

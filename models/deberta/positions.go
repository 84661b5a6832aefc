package deberta

// MaxSequence is the longest input, in tokens, the model can number: with absolute
// position embeddings (position_biased_input) max_position_embeddings; without them
// (DeBERTa-v3) 0, meaning no limit, since relative positions are bucketed.
func (c Config) MaxSequence() int64 {
	if c.PositionBiasedInput {
		return c.MaxPositionEmbeddings
	}
	return 0
}

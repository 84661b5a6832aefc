package models

// BlockLinear is one adaptable linear of an encoder layer: its Hugging Face module name
// within the layer and its type.
type BlockLinear struct {
	Name string
	Type LayerType
}

// BlockLinears lists the adaptable linears of a stack of encoder layers, the table's
// linears under prefix(i) for each layer i. Attention projections are hidden × hidden,
// the FFN up-projection ffn × hidden and the down-projection hidden × ffn; all have a
// bias (a model without some clears Bias afterwards).
func BlockLinears(prefix func(i int64) string, layers int64, table []BlockLinear, hidden, ffn int64) []LinearSpec {
	var out []LinearSpec
	for i := range layers {
		p := prefix(i)
		for _, b := range table {
			spec := LinearSpec{Name: p + b.Name, Type: b.Type, Out: hidden, In: hidden, Bias: true}
			switch b.Type {
			case FFNUp:
				spec.Out = ffn
			case FFNDown:
				spec.In = ffn
			}
			out = append(out, spec)
		}
	}
	return out
}

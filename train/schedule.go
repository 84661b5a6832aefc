package train

import "math"

// LinearSchedule is the learning-rate multiplier of Hugging Face's
// get_linear_schedule_with_warmup for the step-th update (0-based): step/warmup during
// warm-up, then linearly down to 0 at total, and 0 after. Like Hugging Face, the first
// update of a warm-up runs at multiplier 0.
func LinearSchedule(step, warmup, total int) float64 {
	if step < warmup {
		return float64(step) / float64(max(1, warmup))
	}
	return max(0, float64(total-step)/float64(max(1, total-warmup)))
}

// ConstantSchedule is diffusers' get_scheduler("constant_with_warmup") multiplier
// (the DreamBooth example's "constant" when the warm-up is 0): step/warmup during
// warm-up, then 1.
func ConstantSchedule(step, warmup, _ int) float64 {
	if step < warmup {
		return float64(step) / float64(max(1, warmup))
	}
	return 1
}

// warmupSteps resolves Config's two warm-up settings as transformers'
// TrainingArguments.get_warmup_steps: explicit steps win, else ceil(ratio·total).
func warmupSteps(steps int, ratio float64, total int) int {
	if steps > 0 {
		return steps
	}
	return int(math.Ceil(ratio * float64(total)))
}

package reports

// MethodLabel is a method's name as the tables print it ("Adapter^H", "Full FT"); an
// unknown method is its key.
func MethodLabel(method string) string { return methodLabel(method) }

// TaskLabel is a task's name as the tables print it ("SST-2", "SQuAD v2.0").
func TaskLabel(task string) string {
	if n, ok := taskNames[normTask(task)]; ok {
		return n
	}
	return task
}

// CompareMethods orders methods as the tables' rows: the paper's order, then by name.
func CompareMethods(a, b string) int { return compareMethods(a, b) }

module github.com/vectorfit/harness

go 1.26

require github.com/sugarme/gotch v0.9.1

require gonum.org/v1/gonum v0.17.0

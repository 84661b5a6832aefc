// Package workflowlint checks the project's GitHub Actions workflows
// (.github/workflows/*.yml) with actionlint's Go API, so that `make test` catches a
// broken nightly job (bad YAML, unknown keys or runner labels, wrong expressions, a
// needs: naming no job, an outdated action) without installing a linter binary. The
// check is its test; the package has no code of its own.
package workflowlint

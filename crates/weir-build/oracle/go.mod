// The differential-test oracle: Flux's own envsubst (the version Flux 2.9 builds kustomize-controller
// with), driven over JSON lines by crates/weir-build/tests/build/envsubst_oracle.rs.
module weir.local/envsubst-oracle

go 1.26.0

require github.com/fluxcd/pkg/envsubst v1.7.1

//! The peer transport (the edge of `cep_runtime::peer`): being written.

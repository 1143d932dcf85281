//! `fw-axum --port <N> [--bind 127.0.0.1] [--workers <N>] [--upstream URL]`

fn main() -> anyhow::Result<()> {
    fw_common::run_tokio_server(fw_axum::serve)
}

//! `fw-actix-web --port <N> [--bind 127.0.0.1] [--workers <N>] [--upstream URL]`

fn main() -> anyhow::Result<()> {
    let (args, listener) = fw_common::startup()?;
    actix_web::rt::System::new().block_on(fw_actix_web::serve(listener, args.workers, args.upstream))?;
    Ok(())
}

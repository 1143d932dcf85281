//! Writes `workloads/conformance/cases.jsonl` from `workloads::conformance::define`.
//! Run from the workspace root: `cargo run -p workloads --bin gen-conformance`.

fn main() -> std::io::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/cases.jsonl");
    let text = workloads::conformance::define::render_corpus();
    std::fs::write(&path, &text)?;
    println!("wrote {} cases to {}", text.lines().filter(|l| l.starts_with('{')).count(), path.display());
    Ok(())
}

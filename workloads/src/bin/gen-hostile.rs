//! Writes `workloads/hostile/cases.jsonl` from `workloads::hostile::define`.
//! Run from the workspace root: `cargo run -p workloads --bin gen-hostile`.

fn main() -> std::io::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hostile/cases.jsonl");
    let text = workloads::hostile::define::render_corpus();
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    std::fs::write(&path, &text)?;
    println!("wrote {} cases to {}", text.lines().filter(|l| l.starts_with('{')).count(), path.display());
    Ok(())
}

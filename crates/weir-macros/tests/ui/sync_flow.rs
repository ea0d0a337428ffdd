use weir_sdk::flow;

#[flow]
fn pipeline() -> anyhow::Result<()> {
    Ok(())
}

fn main() {}

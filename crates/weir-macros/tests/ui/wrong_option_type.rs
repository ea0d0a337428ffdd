use weir_sdk::task;

#[task(retries = "three")]
async fn count() -> anyhow::Result<()> {
    Ok(())
}

fn main() {}

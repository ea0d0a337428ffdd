//! `weir-bench-flows`: the trivial flow the worker benchmark deploys
//! (`bench/run_worker_side_by_side.py`); `deploy --pool P` registers it, workers `execute` it.

use weir_sdk::{flow, task};

#[task]
async fn touch(n: u64) -> u64 {
    n
}

#[flow(name = "bench-trivial")]
async fn trivial(n: u64) -> u64 {
    touch(n).await
}

weir_sdk::main!(trivial);

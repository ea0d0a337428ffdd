use weir_sdk::Block;

#[derive(Block)]
enum Choice {
    A,
    B,
}

fn main() {}

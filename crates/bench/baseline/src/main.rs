//! The floor for compare.sh's figures: a Rust program that does nothing but
//! print one line, built with the same profile. What it costs (exec, the
//! dynamic loader, std's start-up, exit) every program pays before its work.

fn main() {
    println!("nothing to do");
}

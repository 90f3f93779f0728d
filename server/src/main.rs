//! The stock `tickroom-server` binary: the demo games behind the stock command line
//! ([`tickroom_server::cli`]). A game's own binary is the same line with its own catalog.

fn main() -> anyhow::Result<()> {
    tickroom_server::cli::run(tickroom_games::builtin())
}

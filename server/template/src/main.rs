//! The game's server: every stock Tickroom flag, variable, probe and page, serving this
//! crate's game, and its page at `/game/`.

use axum::response::Html;
use axum::routing::get;

const PAGE: &str = include_str!("../page/index.html");

fn main() -> anyhow::Result<()> {
    let catalog = tickroom_engine::Catalog::new().with(game::Coins);
    let page = axum::Router::new().route("/game/", get(|| async { Html(PAGE) }));
    tickroom_server::cli::run_with(catalog, |server| server.routes(page))
}

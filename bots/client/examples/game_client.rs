//! A minimal Rust game client: joins with a token, moves right, predicts its own position
//! locally and reconciles it with every snapshot, and reconnects by itself if the network
//! drops.
//!
//! ```sh
//! TOKEN=$(cargo run -q -p tickroom-server -- mint-token --match demo --player alice)
//! cargo run -p tickroom-client --example game_client -- http://127.0.0.1:7350 "$TOKEN"
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use tickroom_client::reconnect::{Backoff, ReconnectingClient, Update};
use tickroom_games::arena::{ArenaInput, ArenaState, PLAYER_RADIUS, SIZE, SPEED};
use tickroom_shared::{AuthPayload, InputMsg, PROTOCOL_VERSION, event};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(server), Some(token)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: game_client <server-url> <token>");
    };
    let auth = AuthPayload {
        token,
        match_id: None,
        protocol: Some(PROTOCOL_VERSION),
    };
    let mut client = ReconnectingClient::connect(&server, auth, Backoff::default(), 1).await?;

    let mut me = String::new();
    let mut tick_rate = 30;
    let mut seq = 0u32;
    // Inputs sent but not yet acknowledged, replayed on top of each snapshot.
    let mut unacked: VecDeque<(u32, ArenaInput)> = VecDeque::new();
    let mut frame = tokio::time::interval(Duration::from_millis(33));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);

    while tokio::time::Instant::now() < deadline {
        tokio::select! {
            _ = frame.tick(), if !me.is_empty() => {
                seq += 1;
                let input = ArenaInput { dir: [1.0, 0.0], buttons: 0 };
                if client.emit(event::INPUT, &InputMsg { seq, input }).await.is_ok() {
                    unacked.push_back((seq, input));
                }
            }
            update = client.recv() => match update {
                Update::Event(e) if e.name == event::WELCOME => {
                    let w = e.welcome().ok_or_else(|| anyhow::anyhow!("bad welcome"))?;
                    println!("joined {} as {} ({:?}), {} Hz", w.match_id, w.player_id, w.role, w.tick_rate);
                    me = w.player_id;
                    tick_rate = w.tick_rate;
                }
                Update::Event(e) if e.name == event::SNAPSHOT => {
                    let Some(s) = client.snapshot::<ArenaState>(&e)? else { continue };
                    let acked = s.acks.get(&me).copied().unwrap_or(0);
                    while unacked.front().is_some_and(|(n, _)| *n <= acked) {
                        unacked.pop_front();
                    }
                    if let Some(p) = s.state.player(&me) {
                        // Reconcile: the server's position plus the inputs it has not applied.
                        let dt = 1.0 / tick_rate as f32;
                        let predicted = unacked.iter().fold(p.x, |x, (_, i)| {
                            (x + i.dir[0] * SPEED * dt).clamp(PLAYER_RADIUS, SIZE - PLAYER_RADIUS)
                        });
                        println!("tick {:>5}  server x={:6.2}  predicted x={predicted:6.2}  unacked={}", s.tick, p.x, unacked.len());
                    }
                }
                Update::Event(e) => {
                    if let Some(err) = e.error() {
                        eprintln!("server error: {} ({})", err.code, err.message);
                    }
                }
                Update::Reconnected { attempts } => {
                    println!("reconnected after {attempts} attempt(s)");
                    unacked.clear();
                }
                Update::Closed(reason) => {
                    println!("closed: {reason:?}");
                    return Ok(());
                }
            }
        }
    }
    client.close().await;
    Ok(())
}

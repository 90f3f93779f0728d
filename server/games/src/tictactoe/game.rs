//! The turn-based demo game "tictactoe". Unlike the arena it has discrete moves (read from
//! [`AppliedInputs`], never held), turns, a board as its only state, and it ends its own match.

use crate::tictactoe::{Board, EMPTY, Move, NAME, O, X};
use bevy_ecs::prelude::*;

use tickroom_engine::{AppliedInputs, Game, GameSystems, MatchControl, MatchRules, PlayerId};

/// The mark a player plays with.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark(pub u8);

/// The board, as a resource.
#[derive(Resource, Debug, Clone, Default)]
pub struct BoardState {
    cells: [u8; 9],
    turn: u8,
    winner: Option<u8>,
    draw: bool,
}

impl BoardState {
    fn over(&self) -> bool {
        self.winner.is_some() || self.draw
    }
}

/// The tic-tac-toe game.
#[derive(Debug, Default, Clone, Copy)]
pub struct TicTacToe;

const LINES: [[usize; 3]; 8] = [
    [0, 1, 2],
    [3, 4, 5],
    [6, 7, 8],
    [0, 3, 6],
    [1, 4, 7],
    [2, 5, 8],
    [0, 4, 8],
    [2, 4, 6],
];

impl Game for TicTacToe {
    type Input = Move;
    type Globals = Board;

    fn name(&self) -> &'static str {
        NAME
    }

    /// Two players, never fewer.
    fn match_rules(&self) -> MatchRules {
        MatchRules {
            players: Some(2),
            start_incomplete: None,
        }
    }

    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.insert_resource(BoardState {
            turn: X,
            ..BoardState::default()
        });
        schedule.add_systems(play.in_set(GameSystems::Simulate));
    }

    fn on_join(&self, world: &mut World, entity: Entity) {
        let taken: Vec<u8> = world.query::<&Mark>().iter(world).map(|m| m.0).collect();
        // The first two players get X and O; later ones watch from their seat.
        if let Some(free) = [X, O].into_iter().find(|m| !taken.contains(m)) {
            world.entity_mut(entity).insert(Mark(free));
        }
    }

    fn on_leave(&self, world: &mut World, entity: Entity) {
        let Some(&Mark(left)) = world.get::<Mark>(entity) else {
            return;
        };
        let opponent_seated = world.query::<&Mark>().iter(world).any(|m| m.0 != left);
        let mut board = world.resource_mut::<BoardState>();
        // Leaving a game in progress forfeits it.
        if !board.over() && opponent_seated && board.cells.iter().any(|c| *c != EMPTY) {
            board.winner = Some(if left == X { O } else { X });
            world.resource_mut::<MatchControl>().end_match();
        }
    }

    /// 1 for the winner, 0 for everyone else (a draw scores 0 for both).
    fn scores(&self, world: &mut World) -> std::collections::BTreeMap<String, i64> {
        let winner = world.resource::<BoardState>().winner;
        world
            .query::<(&PlayerId, &Mark)>()
            .iter(world)
            .map(|(id, mark)| (id.0.to_string(), i64::from(Some(mark.0) == winner)))
            .collect()
    }

    fn globals(&self, world: &mut World) -> Board {
        let mut x = None;
        let mut o = None;
        for (id, mark) in world.query::<(&PlayerId, &Mark)>().iter(world) {
            match mark.0 {
                X => x = Some(id.0.to_string()),
                _ => o = Some(id.0.to_string()),
            }
        }
        let b = world.resource::<BoardState>();
        Board {
            cells: b.cells,
            x,
            o,
            turn: b.turn,
            winner: b.winner,
            draw: b.draw,
        }
    }
}

/// Applies this tick's moves in order: a move counts only from the player whose turn it is,
/// on an empty cell, with both players seated. Others are ignored (the snapshot shows the
/// board as it is, so a client sees its move was not taken).
fn play(
    moves: Res<'_, AppliedInputs<Move>>,
    marks: Query<'_, '_, &Mark>,
    mut board: ResMut<'_, BoardState>,
    mut control: ResMut<'_, MatchControl>,
) {
    if marks.iter().count() < 2 {
        return;
    }
    for m in &moves.0 {
        let Ok(&Mark(mark)) = marks.get(m.entity) else {
            continue;
        };
        let cell = usize::from(m.input.cell);
        if board.over() || mark != board.turn || board.cells.get(cell) != Some(&EMPTY) {
            continue;
        }
        board.cells[cell] = mark;
        if LINES
            .iter()
            .any(|l| l.iter().all(|i| board.cells[*i] == mark))
        {
            board.winner = Some(mark);
        } else if board.cells.iter().all(|c| *c != EMPTY) {
            board.draw = true;
        }
        board.turn = if mark == X { O } else { X };
        if board.over() {
            control.end_match();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use tickroom_shared::Mirror;

    use super::*;
    use tickroom_engine::{Room, RoomConfig};

    fn room() -> Room<TicTacToe> {
        let config = RoomConfig {
            keyframe_interval: 1,
            ..RoomConfig::with_rate(10)
        };
        Room::new(Arc::new(TicTacToe), config)
    }

    fn board(bytes: &[u8]) -> Board {
        // Test rooms send keyframes only; globals travel whole in every snapshot anyway.
        let mut m = Mirror::new();
        let k = m
            .apply_typed::<Board>(&Bytes::copy_from_slice(bytes))
            .unwrap();
        k.expect("a keyframe").state
    }

    #[test]
    fn turns_wins_and_ends() {
        let mut r = room();
        r.join("ann".into());
        // Alone: moves wait for an opponent.
        r.push_input("ann", 1, Move { cell: 4 });
        let b = board(r.tick());
        assert_eq!(b.cells, [EMPTY; 9]);
        assert_eq!(b.x.as_deref(), Some("ann"));
        r.join("bob".into());
        r.join("cat".into()); // a third player gets no mark
        let seq = |n: u32| n + 1;
        // ann (X) 0, bob (O) out of turn is ignored, then 3; ann 1; bob 4; ann 2 wins.
        r.push_input("ann", seq(1), Move { cell: 0 });
        r.push_input("bob", 1, Move { cell: 8 });
        let b = board(r.tick());
        assert_eq!(b.cells[0], X);
        assert_eq!(
            b.cells[8], O,
            "bob's move came after ann's in the same tick"
        );
        assert_eq!(b.o.as_deref(), Some("bob"));
        r.push_input("bob", 2, Move { cell: 3 }); // not bob's turn
        r.push_input("ann", seq(2), Move { cell: 0 }); // taken
        let b = board(r.tick());
        assert_eq!(b.cells[3], EMPTY);
        assert_eq!(b.turn, X);
        for (player, seq, cell) in [("ann", 4, 1), ("bob", 3, 4), ("ann", 5, 2)] {
            r.push_input(player, seq, Move { cell });
            r.tick();
        }
        let b = board(r.last_snapshot());
        assert_eq!(b.winner, Some(X));
        assert!(r.is_over());
    }

    #[test]
    fn leaving_mid_game_forfeits() {
        let mut r = room();
        r.join("ann".into());
        r.join("bob".into());
        r.push_input("ann", 1, Move { cell: 0 });
        r.tick();
        assert!(!r.is_over());
        r.leave("ann");
        let b = board(r.tick());
        assert_eq!(b.winner, Some(O));
        assert!(r.is_over());
    }
}

//! Interest management: which rows each viewer is sent.
//!
//! A game that declares an [`Interest`] ([`Replication::interest`](crate::Replication::interest))
//! has its room send each viewer a snapshot of its own: the rows near where the viewer's
//! player is, and every row that has no place. Rows are encoded once a tick; each viewer's
//! snapshot is a delta against what *that viewer* was sent, so a row entering its view arrives
//! whole and one leaving it is removed. A spatial grid keeps the cost of finding a viewer's
//! rows proportional to what it sees, not to the room's size.

use std::collections::HashMap;

use bevy_ecs::prelude::*;

/// How far each viewer sees. Declared by a game in
/// [`Game::replicate`](crate::Game::replicate):
///
/// ```
/// use bevy_ecs::prelude::*;
/// use tickroom_engine::Interest;
///
/// #[derive(Component)]
/// struct Position { x: f32, y: f32 }
///
/// // A row whose entity has a `Position` is sent to a viewer whose player is within 30 units
/// // of it (it stays until beyond 37.5); a row without one (a scoreboard) to every viewer.
/// let interest = Interest::within(30.0, |p: &Position| [p.x, p.y]);
/// assert_eq!(interest.radius(), 30.0);
/// assert_eq!(interest.keep_radius(), 37.5);
/// ```
///
/// What each viewer sees:
/// - a player sees the rows whose place is within [`radius`](Self::radius) of its own
///   entity's place, and keeps seeing one until it is beyond
///   [`keep_radius`](Self::keep_radius) (so a row on the edge does not flicker in and out);
/// - every viewer sees every row whose entity has no place (the component is absent);
/// - a viewer with no place — a spectator, or a player whose entity lacks the component —
///   sees every row.
pub struct Interest {
    radius: f32,
    keep: f32,
    locate: Box<dyn Locate>,
}

impl std::fmt::Debug for Interest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interest")
            .field("radius", &self.radius)
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

impl Interest {
    /// Each viewer sees what is within `radius` of it; an entity's place is `place` of its
    /// component `C`. A row once seen stays until beyond 1.25 × `radius`
    /// ([`keep_within`](Self::keep_within) changes that).
    ///
    /// # Panics
    /// If `radius` is not a finite number above 0.
    pub fn within<C: Component>(radius: f32, place: fn(&C) -> [f32; 2]) -> Self {
        assert!(
            radius.is_finite() && radius > 0.0,
            "an interest radius is a finite number above 0, not {radius}"
        );
        Self {
            radius,
            keep: radius * 1.25,
            locate: Box::new(Located::<C> { place, state: None }),
        }
    }

    /// A row a viewer sees stays in its view until it is beyond `keep` (at least the radius).
    ///
    /// # Panics
    /// If `keep` is below the radius or not finite.
    pub fn keep_within(mut self, keep: f32) -> Self {
        assert!(
            keep.is_finite() && keep >= self.radius,
            "the keep radius is at least the radius ({}), not {keep}",
            self.radius
        );
        self.keep = keep;
        self
    }

    /// How near a row must come to enter a viewer's view.
    pub fn radius(&self) -> f32 {
        self.radius
    }

    /// How far a row in view may go before it leaves it.
    pub fn keep_radius(&self) -> f32 {
        self.keep
    }

    /// The place of `entity`, if it has one.
    pub(crate) fn place_of(&self, world: &World, entity: Entity) -> Option<[f32; 2]> {
        self.locate.place_of(world, entity).filter(|p| finite(*p))
    }
}

fn finite(p: [f32; 2]) -> bool {
    p[0].is_finite() && p[1].is_finite()
}

/// Reads entities' places from the game's component, type-erased.
trait Locate: Send + Sync {
    /// `(entity index, place)` of every entity with a place, in `out` (any order).
    fn all(&mut self, world: &mut World, out: &mut Vec<(u32, [f32; 2])>);
    fn place_of(&self, world: &World, entity: Entity) -> Option<[f32; 2]>;
}

struct Located<C: Component> {
    place: fn(&C) -> [f32; 2],
    /// Made on first use, from the room's World.
    state: Option<QueryState<(Entity, &'static C)>>,
}

impl<C: Component> Locate for Located<C> {
    fn all(&mut self, world: &mut World, out: &mut Vec<(u32, [f32; 2])>) {
        let state = self
            .state
            .get_or_insert_with(|| world.query::<(Entity, &C)>());
        out.extend(
            state
                .iter(world)
                .map(|(e, c)| (e.index_u32(), (self.place)(c))),
        );
    }

    fn place_of(&self, world: &World, entity: Entity) -> Option<[f32; 2]> {
        world.get::<C>(entity).map(self.place)
    }
}

/// One tick's rows by place: a grid of cells as wide as the keep radius, so every row a
/// viewer may see is in the 3 × 3 cells around it. Every buffer is reused tick to tick.
#[derive(Debug, Default)]
pub(crate) struct Grid {
    /// Scratch: `(entity index, place)` of the located entities, by index.
    located: Vec<(u32, [f32; 2])>,
    /// Each row's place (by row index); NaN for a row without one.
    places: Vec<[f32; 2]>,
    /// Row indices of located rows, grouped by cell.
    by_cell: Vec<u32>,
    /// Each occupied cell's range in `by_cell`.
    cells: HashMap<(i32, i32), (u32, u32)>,
    /// Row indices of rows without a place (visible to every viewer).
    everywhere: Vec<u32>,
    cell: f32,
    radius2: f32,
    keep2: f32,
}

impl Grid {
    /// Sorts this tick's rows (their keys, ascending, as the encoder lists them) by place.
    pub(crate) fn build(
        &mut self,
        interest: &mut Interest,
        world: &mut World,
        keys: impl ExactSizeIterator<Item = u32>,
    ) {
        self.cell = interest.keep;
        self.radius2 = interest.radius * interest.radius;
        self.keep2 = interest.keep * interest.keep;
        self.located.clear();
        interest.locate.all(world, &mut self.located);
        self.located.sort_unstable_by_key(|(index, _)| *index);
        self.places.clear();
        self.everywhere.clear();
        self.by_cell.clear();
        self.cells.clear();
        let mut located = self.located.iter().peekable();
        let mut cells: Vec<((i32, i32), u32)> = Vec::new();
        for (i, key) in keys.enumerate() {
            while located.next_if(|(index, _)| *index < key).is_some() {}
            let place = located
                .next_if(|(index, _)| *index == key)
                .map(|(_, p)| *p)
                .filter(|p| finite(*p));
            match place {
                Some(p) => {
                    self.places.push(p);
                    cells.push((self.cell_of(p), i as u32));
                }
                None => {
                    self.places.push([f32::NAN; 2]);
                    self.everywhere.push(i as u32);
                }
            }
        }
        cells.sort_unstable();
        for (cell, i) in cells {
            let at = self.by_cell.len() as u32;
            self.by_cell.push(i);
            self.cells
                .entry(cell)
                .and_modify(|(_, end)| *end = at + 1)
                .or_insert((at, at + 1));
        }
    }

    fn cell_of(&self, p: [f32; 2]) -> (i32, i32) {
        // `as` saturates: a place far out lands in an edge cell, still compared by distance.
        (
            (p[0] / self.cell).floor() as i32,
            (p[1] / self.cell).floor() as i32,
        )
    }

    /// The rows a viewer at `from` sees, ascending, into `out`: within the radius, or within
    /// the keep radius if `had` says it was sent the row's key last time, plus every row
    /// without a place. A viewer with no place sees every row.
    pub(crate) fn visible(
        &self,
        from: Option<[f32; 2]>,
        keys: &[u32],
        had: impl Fn(u32) -> bool,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        let Some(p) = from else {
            out.extend(0..self.places.len() as u32);
            return;
        };
        let (cx, cy) = self.cell_of(p);
        for dx in -1..=1 {
            for dy in -1..=1 {
                let cell = (cx.saturating_add(dx), cy.saturating_add(dy));
                let Some(&(a, b)) = self.cells.get(&cell) else {
                    continue;
                };
                for &i in &self.by_cell[a as usize..b as usize] {
                    let q = self.places[i as usize];
                    let (ddx, ddy) = (q[0] - p[0], q[1] - p[1]);
                    let d2 = ddx * ddx + ddy * ddy;
                    if d2 <= self.radius2 || (d2 <= self.keep2 && had(keys[i as usize])) {
                        out.push(i);
                    }
                }
            }
        }
        out.extend_from_slice(&self.everywhere);
        out.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Component)]
    struct At(f32, f32);

    fn grid(world: &mut World, interest: &mut Interest) -> (Grid, Vec<u32>) {
        let mut keys: Vec<u32> = world
            .query::<Entity>()
            .iter(world)
            .map(|e| e.index_u32())
            .collect();
        keys.sort_unstable();
        let mut g = Grid::default();
        g.build(interest, world, keys.iter().copied());
        (g, keys)
    }

    /// The grid finds exactly what a scan of every row by distance finds, wherever the
    /// viewer stands (cell edges, negative places, far away), and keeps what a viewer had
    /// only within the keep radius.
    #[test]
    fn the_grid_sees_what_a_scan_of_every_row_sees() {
        let mut world = World::new();
        let mut seed = 0x1234_5678_9abc_def1_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 20_000) as f32 / 100.0 - 100.0
        };
        for _ in 0..500 {
            world.spawn(At(next(), next()));
        }
        world.spawn_empty(); // a row with no place
        let mut interest = Interest::within(10.0, |a: &At| [a.0, a.1]);
        let (g, keys) = grid(&mut world, &mut interest);
        let places: Vec<Option<[f32; 2]>> = keys
            .iter()
            .map(|k| {
                let e = world
                    .query::<Entity>()
                    .iter(&world)
                    .find(|e| e.index_u32() == *k);
                e.and_then(|e| world.get::<At>(e)).map(|a| [a.0, a.1])
            })
            .collect();
        let mut out = Vec::new();
        for n in 0..300 {
            let from = [next(), next()];
            let had = |k: u32| k % 3 == (n % 3) as u32;
            g.visible(Some(from), &keys, had, &mut out);
            let want: Vec<u32> = (0..keys.len() as u32)
                .filter(|&i| match places[i as usize] {
                    None => true,
                    Some(q) => {
                        let d2 = (q[0] - from[0]).powi(2) + (q[1] - from[1]).powi(2);
                        d2 <= 100.0 || (d2 <= 12.5 * 12.5 && had(keys[i as usize]))
                    }
                })
                .collect();
            assert_eq!(out, want, "from {from:?}");
        }
        g.visible(None, &keys, |_| false, &mut out);
        assert_eq!(
            out.len(),
            keys.len(),
            "a viewer with no place sees every row"
        );
    }

    #[test]
    #[should_panic(expected = "an interest radius is a finite number above 0")]
    fn a_radius_of_zero_is_refused() {
        let _ = Interest::within(0.0, |a: &At| [a.0, a.1]);
    }
}

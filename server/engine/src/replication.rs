//! What a game replicates: each kind of row declared once ([`Replication`]); the room owns
//! every query and encodes every kind's rows after each tick.

use bevy_ecs::prelude::*;
use bevy_ecs::query::{QueryFilter, ROQueryItem, ReadOnlyQueryData};
use tickroom_shared::snapshot::{Encoder, ExactRows, Kind, MAX_KINDS, Replicate, RowError};

use crate::command_log::Fnv;

use crate::interest::Interest;

/// A row made from a query, for a kind whose row is not one component: the room queries every
/// entity that matches [`Query`](Self::Query) and [`Filter`](Self::Filter) after each tick and
/// sends [`from_query`](Self::from_query)'s row for it. Register it with
/// [`Replication::rows`].
///
/// ```
/// use bevy_ecs::prelude::*;
/// use bevy_ecs::query::ROQueryItem;
/// use tickroom_engine::{PlayerId, QueryRow, Replicate};
///
/// #[derive(Component)]
/// struct Position { x: f32, y: f32 }
///
/// #[derive(Replicate)]
/// #[replicate(kind = "player")]
/// struct PlayerRow {
///     id: String,
///     #[replicate(step = 0.01)]
///     x: f32,
///     #[replicate(step = 0.01)]
///     y: f32,
/// }
///
/// impl QueryRow for PlayerRow {
///     type Query = (&'static PlayerId, &'static Position);
///     type Filter = ();
///     fn from_query((id, pos): ROQueryItem<'_, '_, Self::Query>) -> Self {
///         PlayerRow { id: id.0.to_string(), x: pos.x, y: pos.y }
///     }
/// }
/// ```
pub trait QueryRow: Replicate + Send + Sync + 'static {
    /// The components a row is made from.
    type Query: ReadOnlyQueryData + 'static;
    /// Which entities are of this kind beyond having the query's components (`()`: all of
    /// them; `With<Bullet>`, `Without<Dead>` …).
    type Filter: QueryFilter + 'static;

    /// The row of one entity.
    fn from_query(item: ROQueryItem<'_, '_, Self::Query>) -> Self;
}

/// The kinds of rows a game replicates, in the order it declares them
/// ([`Game::replicate`](crate::Game::replicate)). Each entity is sent as one row, of the
/// first kind it matches; its key is the entity's index, and a key that another entity takes
/// over later (or that changes kind) reaches clients as a new row.
pub struct Replication<'w> {
    world: &'w mut World,
    kinds: Vec<Kind>,
    collectors: Vec<Box<dyn Collect>>,
    interest: Option<Interest>,
}

impl std::fmt::Debug for Replication<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.kinds.iter().map(|k| k.name))
            .finish()
    }
}

impl<'w> Replication<'w> {
    pub(crate) fn new(world: &'w mut World) -> Self {
        Self {
            world,
            kinds: Vec::new(),
            collectors: Vec::new(),
            interest: None,
        }
    }

    /// Sends each viewer only what it sees: the rows within `interest`'s radius of its
    /// player, and every row without a place (see [`Interest`]). Without it, every viewer is
    /// sent every row (one snapshot for the room). Declared at most once.
    ///
    /// # Panics
    /// If an interest was declared already.
    pub fn interest(&mut self, interest: Interest) -> &mut Self {
        assert!(self.interest.is_none(), "interest is declared once");
        self.interest = Some(interest);
        self
    }

    /// Replicates every entity with component `C`, which is its own row (a
    /// `#[derive(Component, Replicate)]` struct).
    ///
    /// # Panics
    /// If a kind of the same name was declared already, or more than 64 kinds are.
    pub fn component<C: Component + Replicate + Send + Sync + 'static>(&mut self) -> &mut Self {
        let state = self.world.query::<(Entity, &C)>();
        self.add(Kind::of::<C>(), Box::new(ComponentRows { state }))
    }

    /// Replicates every entity matching `R`'s query as a row built by
    /// [`QueryRow::from_query`].
    ///
    /// # Panics
    /// If a kind of the same name was declared already, or more than 64 kinds are.
    pub fn rows<R: QueryRow>(&mut self) -> &mut Self {
        let state = self.world.query_filtered::<(Entity, R::Query), R::Filter>();
        self.add(Kind::of::<R>(), Box::new(QueryRows::<R> { state }))
    }

    fn add(&mut self, kind: Kind, collect: Box<dyn Collect>) -> &mut Self {
        assert!(
            self.kinds.iter().all(|k| k.name != kind.name),
            "two replicated kinds are named {:?}",
            kind.name
        );
        assert!(self.kinds.len() < MAX_KINDS, "at most {MAX_KINDS} kinds");
        self.kinds.push(kind);
        self.collectors.push(collect);
        self
    }

    pub(crate) fn finish(self) -> (Vec<Kind>, Rows, Option<Interest>) {
        (self.kinds, Rows(self.collectors), self.interest)
    }
}

/// Every declared kind's query, owned by the room.
pub(crate) struct Rows(Vec<Box<dyn Collect>>);

impl Rows {
    /// Pushes every kind's rows of `world` into `encoder`; returns the rows that did not
    /// encode.
    pub(crate) fn collect(&mut self, world: &World, encoder: &mut Encoder) -> usize {
        self.0
            .iter_mut()
            .enumerate()
            .map(|(kind, c)| c.collect(kind, world, encoder))
            .sum()
    }

    /// Feeds every row of every kind, in order, at full precision into `h`: its kind, key,
    /// generation and fields.
    pub(crate) fn checksum(&mut self, world: &World, h: &mut Fnv) {
        let mut exact = Exact::default();
        for (kind, c) in self.0.iter_mut().enumerate() {
            c.checksum(kind, world, &mut exact, h);
        }
    }
}

/// Scratch for [`Rows::checksum`].
#[derive(Default)]
struct Exact {
    rows: ExactRows,
    buf: Vec<u8>,
}

impl Exact {
    fn feed<R: Replicate>(&mut self, h: &mut Fnv, kind: usize, entity: Entity, row: &R) {
        self.buf.clear();
        // A row the encoder refuses is refused here too: only its key counts.
        let _ = self.rows.write(row, &mut self.buf);
        h.write_u64(kind as u64);
        h.write_u64(entity.to_bits());
        h.write(&self.buf);
    }
}

trait Collect: Send + Sync {
    fn collect(&mut self, kind: usize, world: &World, encoder: &mut Encoder) -> usize;
    fn checksum(&mut self, kind: usize, world: &World, exact: &mut Exact, h: &mut Fnv);
}

fn push<R: Replicate>(
    encoder: &mut Encoder,
    kind: usize,
    entity: Entity,
    row: &R,
) -> Result<(), RowError> {
    encoder.push(kind, entity.index_u32(), entity.generation().to_bits(), row)
}

struct ComponentRows<C: Component> {
    state: QueryState<(Entity, &'static C)>,
}

impl<C: Component + Replicate + Send + Sync> Collect for ComponentRows<C> {
    fn collect(&mut self, kind: usize, world: &World, encoder: &mut Encoder) -> usize {
        let mut rejected = 0;
        for (entity, c) in self.state.iter(world) {
            rejected += usize::from(push(encoder, kind, entity, c).is_err());
        }
        rejected
    }

    fn checksum(&mut self, kind: usize, world: &World, exact: &mut Exact, h: &mut Fnv) {
        for (entity, c) in self.state.iter(world) {
            exact.feed(h, kind, entity, c);
        }
    }
}

struct QueryRows<R: QueryRow> {
    state: QueryState<(Entity, R::Query), R::Filter>,
}

impl<R: QueryRow> Collect for QueryRows<R> {
    fn collect(&mut self, kind: usize, world: &World, encoder: &mut Encoder) -> usize {
        let mut rejected = 0;
        for (entity, item) in self.state.iter(world) {
            rejected += usize::from(push(encoder, kind, entity, &R::from_query(item)).is_err());
        }
        rejected
    }

    fn checksum(&mut self, kind: usize, world: &World, exact: &mut Exact, h: &mut Fnv) {
        for (entity, item) in self.state.iter(world) {
            exact.feed(h, kind, entity, &R::from_query(item));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Component, Replicate)]
    struct Bullet {
        x: f32,
    }

    #[derive(Component, Replicate)]
    #[replicate(kind = "bullet")]
    struct Shell {
        x: f32,
    }

    /// Two kinds under one name would be one kind to every client: refused when the room is
    /// built, as GAME_API.md says.
    #[test]
    #[should_panic(expected = "two replicated kinds are named \"bullet\"")]
    fn two_kinds_of_one_name_are_refused() {
        let mut world = World::new();
        let mut rep = Replication::new(&mut world);
        rep.component::<Bullet>().component::<Shell>();
    }
}

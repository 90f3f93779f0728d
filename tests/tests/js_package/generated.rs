//! What the TypeScript package takes from the Rust source, checked for drift: the protocol's
//! types (generated with ts-rs) and the snapshot conformance vectors (generated with the
//! Rust encoder). `TICKROOM_BLESS=1` rewrites the files instead of comparing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use tickroom_shared::error::ALL as ALL_CODES;
use tickroom_shared::input::{Input, InputField, InputSchema, InputType, NumberType};
use tickroom_shared::snapshot::{Applied, Encoder};
use tickroom_shared::{
    Announcement, AuthPayload, EndReason, ErrorCode, ErrorMsg, InputMsg, MatchEnd, Mirror, Moved,
    NAMESPACE, PROTOCOL_VERSION, Presence, PresenceStatus, Role, Shutdown, Welcome, event,
};
use ts_rs::{Config, TS};

fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clients/js")
}

/// Compares `generated` with the committed file at `rel` (or writes it when blessing).
fn check(rel: &str, generated: &str) {
    let path = package_dir().join(rel);
    if std::env::var_os("TICKROOM_BLESS").is_some() {
        std::fs::write(&path, generated).expect("write the generated file");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "clients/js/{rel} is not what the Rust source generates: run \
         `TICKROOM_BLESS=1 cargo test -p tickroom-tests --test js_package generated` and \
         commit the result"
    );
}

/// `clients/js/src/protocol.ts`: the messages, codes, event names and version of
/// `tickroom-shared`, as TypeScript.
fn protocol_ts() -> String {
    let cfg = Config::new().with_large_int("number");
    let mut out = String::from(
        "// Generated from tickroom-shared's protocol types by\n\
         // `TICKROOM_BLESS=1 cargo test -p tickroom-tests --test js_package generated`.\n\
         // Do not edit: tests/tests/js_package fails when this file and the Rust source differ.\n\n",
    );
    out += &format!(
        "/** The protocol version this client speaks. */\nexport const PROTOCOL_VERSION = {PROTOCOL_VERSION};\n\n"
    );
    out += &format!("/** The Socket.IO namespace. */\nexport const NAMESPACE = {NAMESPACE:?};\n\n");
    out += "/** Event names, in both directions. */\nexport const EVENT = {\n";
    for (name, value) in [
        ("input", event::INPUT),
        ("welcome", event::WELCOME),
        ("snapshot", event::SNAPSHOT),
        ("error", event::ERROR),
        ("match_end", event::MATCH_END),
        ("presence", event::PRESENCE),
        ("shutdown", event::SHUTDOWN),
        ("moved", event::MOVED),
        ("announcement", event::ANNOUNCEMENT),
    ] {
        out += &format!("  {name}: {value:?},\n");
    }
    out += "} as const;\n\n";
    out += "/** Every error code the server sends, in CONNECT_ERROR and `error` events. */\nexport const ERROR_CODES = [\n";
    for code in ALL_CODES {
        out += &format!("  {:?},\n", code.as_str());
    }
    out += "] as const;\n\n";
    for decl in [
        Role::decl(&cfg),
        AuthPayload::decl(&cfg),
        Welcome::decl(&cfg),
        InputMsg::<()>::decl(&cfg),
        ErrorCode::decl(&cfg),
        ErrorMsg::decl(&cfg),
        EndReason::decl(&cfg),
        MatchEnd::decl(&cfg),
        PresenceStatus::decl(&cfg),
        Presence::decl(&cfg),
        Shutdown::decl(&cfg),
        Moved::decl(&cfg),
        Announcement::decl(&cfg),
        NumberType::decl(&cfg),
        InputType::decl(&cfg),
        InputField::decl(&cfg),
        InputSchema::decl(&cfg),
    ] {
        out += "export ";
        out += decl.trim();
        out += "\n\n";
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[test]
fn generated_protocol_types_match_the_rust_source() {
    check("src/protocol.ts", &protocol_ts());
}

/// A tiny deterministic generator, so the vectors are the same on every machine.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[derive(serde::Serialize)]
struct Globals {
    round: u32,
    phase: &'static str,
}

/// The vectors' first kind: quantized numbers (one with a modulo, as an angle would be)
/// beside raw values.
#[derive(tickroom_shared::snapshot::Replicate)]
#[replicate(kind = "unit")]
struct VectorRow {
    id: String,
    #[replicate(step = 0.25)]
    x: f32,
    #[replicate(step = 0.25)]
    y: f32,
    hp: i32,
    #[replicate(step = 0.5, modulo = 720)]
    turn: f32,
}

/// A unit of the vectors' worlds: x, y, hp, turn — quarters and halves, exact in float32 and
/// in JSON.
type Unit = (f32, f32, i32, f32);

/// Pushes every unit of `world` as a row of the first kind, `VectorRow`.
fn push_units(enc: &mut Encoder, world: &BTreeMap<u32, Unit>) {
    for (key, (x, y, hp, turn)) in world {
        let row = VectorRow {
            id: format!("p{key}"),
            x: *x,
            y: *y,
            hp: *hp,
            turn: *turn,
        };
        enc.push(0, *key, 0, &row)
            .expect("a row of the declared fields");
    }
}

/// A unit as a state in the vectors lists it: `[key, kind, values...]`.
fn unit_json(key: u32, (x, y, hp, turn): &Unit) -> serde_json::Value {
    serde_json::json!([key, "unit", format!("p{key}"), x, y, hp, turn])
}

/// The vectors' globals' phase in round `round`.
fn phase(round: u32) -> &'static str {
    if round.is_multiple_of(2) {
        "play"
    } else {
        "pause"
    }
}

/// The vectors' second kind: short-lived rows whose keys are soon taken by new ones (a new
/// tag: a new row, not a change). Its `speed`'s step, 1.5, is not `1 / n`: keyframes carry it
/// as a float64, where the other steps travel as `-n`.
#[derive(tickroom_shared::snapshot::Replicate)]
struct Shot {
    #[replicate(step = 0.5)]
    x: f32,
    owner: String,
    #[replicate(step = 1.5)]
    speed: f32,
}

/// A shot's speed: a multiple of its step, 1.5, by its tag.
fn shot_speed(tag: u32) -> f32 {
    1.5 * (tag % 4) as f32
}

/// `clients/js/test/vectors/snapshots.json`: what the Rust encoder sends for a world of two
/// kinds that changes at random (units join, leave, move, move back; shots appear, vanish and
/// are replaced under the same key; players take and give up seats; globals change;
/// snapshots are missed), and the state a client must hold after each snapshot it receives.
fn snapshot_vectors() -> String {
    use tickroom_shared::snapshot::{Kind, Replicate};
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut enc = Encoder::new(&[Kind::of::<VectorRow>(), Kind::of::<Shot>()], 7);
    // key (10..16) → (tag, x, owner)
    let mut shots: BTreeMap<u32, (u32, f32, u32)> = BTreeMap::new();
    let mut next_tag = 0u32;
    // The keys (and tags; u32::MAX for units) of the state the client last applied.
    let mut held_tags: BTreeMap<u32, u32> = BTreeMap::new();
    let mut mirror = Mirror::new();
    // key → (x, y, hp, turn); numbers are quarters and halves, exact in float32 and in JSON.
    let mut world: BTreeMap<u32, Unit> = BTreeMap::new();
    // seat → (player, last applied seq): each row's player holds the seat of the row's key.
    let mut seats: BTreeMap<u32, (String, u32)> = BTreeMap::new();
    let mut round = 0;
    let mut frames = Vec::new();
    for tick in 1..=240u64 {
        for _ in 0..rng.below(4) {
            let key = rng.below(10) as u32;
            match rng.below(6) {
                0 => {
                    world.remove(&key);
                    seats.remove(&key);
                }
                1 => {
                    world.insert(key, (0.0, 0.0, 100, 0.0));
                }
                2 => {
                    if let Some(row) = world.get_mut(&key) {
                        row.2 -= rng.below(20) as i32;
                        // turning across 0: the short way round is negative
                        row.3 = (row.3 + 359.5 - rng.below(4) as f32 * 0.5) % 360.0;
                    }
                }
                _ => {
                    let (x, y) = (rng.below(400) as f32 / 4.0, rng.below(400) as f32 / 4.0);
                    let (hp, turn) = world.get(&key).map_or((100, 0.0), |r| (r.2, r.3));
                    world.insert(key, (x, y, hp, (turn + 1.5) % 360.0));
                    seats.entry(key).or_insert_with(|| (format!("p{key}"), 0)).1 += 1;
                }
            }
        }
        // Inputs applied: on some ticks most seats' acks move (one increase per seat on the
        // wire), on others a few (seat, increase pairs).
        let in_four = if rng.below(2) == 0 { 3 } else { 1 };
        for (_, seq) in seats.values_mut() {
            if rng.below(4) < in_four {
                *seq += 1 + rng.below(2) as u32;
            }
        }
        if rng.below(10) == 0 {
            round += 1;
        }
        for _ in 0..rng.below(3) {
            let key = 10 + rng.below(6) as u32;
            next_tag += 1;
            match rng.below(3) {
                0 => {
                    shots.remove(&key);
                }
                1 => {
                    // a new shot, possibly under the key of one just gone
                    let owner = rng.below(10) as u32;
                    shots.insert(key, (next_tag, rng.below(200) as f32 / 2.0, owner));
                }
                _ => {
                    if let Some(shot) = shots.get_mut(&key) {
                        shot.1 += 1.5;
                    }
                }
            }
        }
        if rng.below(25) == 0 {
            enc.request_keyframe();
        }
        enc.begin();
        for (key, (tag, x, owner)) in &shots {
            let shot = Shot {
                x: *x,
                owner: format!("p{owner}"),
                speed: shot_speed(*tag),
            };
            enc.push(1, *key, *tag, &shot).expect("a shot");
        }
        push_units(&mut enc, &world);
        let globals = Globals {
            round,
            phase: phase(round),
        };
        let seat_list = seats
            .iter()
            .map(|(seat, (player, seq))| (*seat, player.as_str(), *seq));
        let bytes = Bytes::copy_from_slice(enc.finish(tick, seat_list, &globals));
        check_float_widths(&bytes);
        if rng.below(5) == 0 {
            continue; // missed: the client never sees it
        }
        let applied = mirror.apply(&bytes).expect("decodes");
        let expect = match applied {
            Applied::NeedKeyframe => serde_json::Value::Null,
            Applied::State { keyframe, .. } => {
                // [key, kind, values...] by key: units' keys are below the shots'.
                let mut rows: Vec<serde_json::Value> =
                    world.iter().map(|(k, unit)| unit_json(*k, unit)).collect();
                rows.extend(shots.iter().map(|(k, (tag, x, owner))| {
                    serde_json::json!([k, "shot", x, format!("p{owner}"), shot_speed(*tag)])
                }));
                // Rows a client must report as added: keys it did not hold, and after a delta
                // also keys a new shot took over (a keyframe cannot tell those apart).
                let now: BTreeMap<u32, u32> = world
                    .keys()
                    .map(|k| (*k, u32::MAX))
                    .chain(shots.iter().map(|(k, (tag, _, _))| (*k, *tag)))
                    .collect();
                let added: Vec<u32> = now
                    .iter()
                    .filter(|(k, tag)| match held_tags.get(k) {
                        None => true,
                        Some(was) => !keyframe && was != *tag,
                    })
                    .map(|(k, _)| *k)
                    .collect();
                held_tags = now;
                let acks: BTreeMap<&str, u32> = seats
                    .values()
                    .map(|(player, seq)| (player.as_str(), *seq))
                    .collect();
                // The Rust client holds exactly this state too.
                let frame = mirror.frame();
                assert_eq!(frame.rows.len(), world.len() + shots.len(), "tick {tick}");
                let held = Shot::read_rows(frame).expect("shots");
                assert_eq!(held.len(), shots.len(), "tick {tick}");
                serde_json::json!({
                    "tick": tick,
                    "keyframe": keyframe,
                    "acks": acks,
                    "rows": rows,
                    "added": added,
                    "globals": { "round": round, "phase": globals.phase },
                })
            }
        };
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        frames.push(serde_json::json!({ "msgpack": hex, "expect": expect }));
    }
    let doc = serde_json::json!({
        "about": "Generated by tests/tests/js_package/generated.rs from the Rust snapshot encoder; \
                  `msgpack` is one snapshot event's argument, `expect` the state after applying \
                  it (null: a delta to wait through until a keyframe).",
        "kinds": [
            kind_json(VectorRow::KIND, VectorRow::FIELDS),
            kind_json(Shot::KIND, Shot::FIELDS),
        ],
        "frames": frames,
    });
    serde_json::to_string_pretty(&doc).expect("json") + "\n"
}

/// A kind as a client reports it: its name and each field's `[name, step, modulo]`.
fn kind_json(name: &str, fields: &[tickroom_shared::snapshot::Field]) -> serde_json::Value {
    let fields: Vec<_> = fields
        .iter()
        .map(|f| {
            serde_json::json!([
                f.name,
                f.quant.map(|q| q.step),
                f.quant.and_then(|q| q.modulo)
            ])
        })
        .collect();
    serde_json::json!({ "name": name, "fields": fields })
}

/// docs/PROTOCOL.md §1: every float the server sends is a float32, except a keyframe
/// schema's steps, which are the int `-n` for a step of `1 / n` or else a float64 (a step such
/// as 0.3 is not exact in float32).
fn check_float_widths(snapshot: &[u8]) {
    use rmpv::Value;
    fn no_float64(v: &Value) {
        match v {
            Value::F64(f) => panic!("a float64 {f} outside a schema step"),
            Value::Array(items) => items.iter().for_each(no_float64),
            Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
                no_float64(k);
                no_float64(v);
            }),
            _ => {}
        }
    }
    let msg = rmpv::decode::read_value(&mut &snapshot[..]).expect("msgpack");
    let Value::Array(parts) = &msg else {
        panic!("a snapshot is an array: {msg}")
    };
    let keyframe = parts[1].as_u64() == Some(0);
    for (i, part) in parts.iter().enumerate() {
        let (2, true, Value::Array(kinds)) = (i, keyframe, part) else {
            no_float64(part);
            continue;
        };
        // The schema: [[kind, [field, ...]], ...], a field a raw one's name or a quantized
        // one's [name, step] or [name, step, modulo].
        for kind in kinds {
            let fields = kind[1].as_array().expect("a kind's fields");
            for field in fields.iter().filter(|f| !f.is_str()) {
                let step = &field[1];
                assert!(
                    step.as_i64().is_some_and(|n| n < 0) || matches!(step, Value::F64(_)),
                    "a schema step is a negative int or a float64, not {step:?}"
                );
                if let Some(modulo) = field.as_array().and_then(|f| f.get(2)) {
                    no_float64(modulo);
                }
            }
        }
    }
}

#[test]
fn snapshot_conformance_vectors_match_the_rust_encoder() {
    check("test/vectors/snapshots.json", &snapshot_vectors());
}

/// How near the viewer a unit must be to be in its view, in the view vectors.
const VIEW_RADIUS: f32 = 25.0;

/// `clients/js/test/vectors/views.json`: one viewer's own stream from a room with interest
/// management (`Encoder::write_view`, as the room writes it): units wander in and out of the
/// radius around the viewer's unit, join and leave; the viewer's seat and ack are the only
/// ones it is sent; it misses snapshots, asks for keyframes, and is skipped on some ticks.
/// Each state lists the rows that entered the view (`added`) and left it (`removed`).
fn view_vectors() -> String {
    use tickroom_shared::snapshot::{Kind, Replicate, View};
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut enc = Encoder::new(&[Kind::of::<VectorRow>()], 10);
    let mut view = View::new();
    let mut mirror = Mirror::new();
    // key → (x, y, hp, turn), numbers in quarters and halves; key 0 is the viewer's unit.
    let mut world: BTreeMap<u32, Unit> = (0..12u32)
        .map(|k| {
            let (x, y) = (rng.below(400) as f32 / 4.0, rng.below(400) as f32 / 4.0);
            (k, (x, y, 100, 0.0))
        })
        .collect();
    world.insert(0, (50.0, 50.0, 100, 0.0));
    let mut seq = 0u32;
    let mut round = 0u32;
    // The keys the client holds (after the last snapshot it applied).
    let mut held: Vec<u32> = Vec::new();
    let (mut entered, mut left) = (0, 0);
    let mut frames = Vec::new();
    for tick in 1..=300u64 {
        for (key, row) in world.iter_mut() {
            // The viewer drifts slowly; the others wander faster, across its radius.
            let reach = if *key == 0 { 4 } else { 24 };
            let step = |v: f32, r: u64| (v + (r as f32 - reach as f32) / 4.0).clamp(0.0, 100.0);
            row.0 = step(row.0, rng.below(2 * reach + 1));
            row.1 = step(row.1, rng.below(2 * reach + 1));
            if rng.below(6) == 0 {
                row.2 -= rng.below(5) as i32;
                row.3 = (row.3 + 359.5) % 360.0;
            }
        }
        if rng.below(8) == 0 {
            // A unit leaves the room, or one joins it (possibly right beside the viewer).
            let key = 1 + rng.below(14) as u32;
            if world.remove(&key).is_none() {
                let (x, y, _, _) = world[&0];
                world.insert(key, (x, y, 100, 0.0));
            }
        }
        if rng.below(4) != 0 {
            seq += 1;
        }
        if rng.below(20) == 0 {
            round += 1;
        }
        if rng.below(30) == 0 {
            view.request_keyframe();
        }
        enc.begin();
        push_units(&mut enc, &world);
        let phase = phase(round);
        enc.begin_views(&Globals { round, phase });
        let (vx, vy, _, _) = world[&0];
        let near = |(x, y, _, _): &Unit| (x - vx).hypot(y - vy) <= VIEW_RADIUS;
        let keys: Vec<u32> = enc.keys().collect();
        let visible: Vec<u32> = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| near(&world[*k]))
            .map(|(i, _)| i as u32)
            .collect();
        if rng.below(15) == 0 {
            // The room wrote no snapshot for this viewer on this tick: its next is a keyframe.
            enc.finish_views(tick);
            continue;
        }
        let bytes =
            Bytes::copy_from_slice(enc.write_view(tick, &mut view, Some((0, "p0", seq)), &visible));
        enc.finish_views(tick);
        check_float_widths(&bytes);
        if rng.below(8) == 0 {
            continue; // missed: the client never sees it
        }
        let applied = mirror.apply(&bytes).expect("decodes");
        let expect = match applied {
            Applied::NeedKeyframe => serde_json::Value::Null,
            Applied::State { keyframe, .. } => {
                let in_view: Vec<u32> = world
                    .iter()
                    .filter(|(_, r)| near(r))
                    .map(|(k, _)| *k)
                    .collect();
                let rows: Vec<serde_json::Value> =
                    in_view.iter().map(|k| unit_json(*k, &world[k])).collect();
                let added: Vec<u32> = in_view
                    .iter()
                    .copied()
                    .filter(|k| !held.contains(k))
                    .collect();
                let removed: Vec<u32> = held
                    .iter()
                    .copied()
                    .filter(|k| !in_view.contains(k))
                    .collect();
                entered += added.len();
                left += removed.len();
                held = in_view;
                // The Rust client holds exactly this state too.
                let mirrored: Vec<(u32, String, f32, f32, i32, f32)> =
                    VectorRow::read_rows(mirror.frame())
                        .expect("units")
                        .into_iter()
                        .map(|(k, r)| (k, r.id, r.x, r.y, r.hp, r.turn))
                        .collect();
                let want: Vec<(u32, String, f32, f32, i32, f32)> = held
                    .iter()
                    .map(|k| {
                        let (x, y, hp, turn) = world[k];
                        (*k, format!("p{k}"), x, y, hp, turn)
                    })
                    .collect();
                assert_eq!(mirrored, want, "tick {tick}");
                serde_json::json!({
                    "tick": tick,
                    "keyframe": keyframe,
                    "acks": { "p0": seq },
                    "rows": rows,
                    "added": added,
                    "removed": removed,
                    "globals": { "round": round, "phase": phase },
                })
            }
        };
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        frames.push(serde_json::json!({ "msgpack": hex, "expect": expect }));
    }
    assert!(
        entered > 40 && left > 40,
        "{entered} rows entered the view, {left} left it"
    );
    let doc = serde_json::json!({
        "about": "Generated by tests/tests/js_package/generated.rs from the Rust snapshot encoder: \
                  one viewer's own stream in a room with interest management (rows enter and \
                  leave its view). `msgpack` is one snapshot event's argument, `expect` the state \
                  after applying it (null: a delta to wait through until a keyframe), with the \
                  keys added and removed by it.",
        "kinds": [kind_json(VectorRow::KIND, VectorRow::FIELDS)],
        "frames": frames,
    });
    serde_json::to_string_pretty(&doc).expect("json") + "\n"
}

#[test]
fn view_conformance_vectors_match_the_rust_encoder() {
    check("test/vectors/views.json", &view_vectors());
}

/// A nested input type, for the input vectors.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, Input)]
struct Aim {
    #[input(range = 0..=359)]
    angle: u16,
    zoom: f64,
}

/// Every feature of `#[derive(Input)]` in one type, for the input vectors; unknown keys are
/// ignored here (the demo games refuse them).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, Input)]
struct Every {
    #[input(range = -1.0..=1.0)]
    dir: [f32; 2],
    #[serde(default)]
    #[input(bits = 0b1010)]
    buttons: u64,
    #[serde(rename = "say")]
    #[input(max_len = 4)]
    chat: Option<String>,
    #[serde(default)]
    #[input(max_len = 2)]
    aims: Vec<Aim>,
    #[serde(default)]
    flag: bool,
    #[serde(default)]
    #[input(range = -5..=5)]
    steps: Vec<i8>,
    #[serde(default)]
    #[input(range = 0.0..=0.1)]
    fine: Option<f32>,
}

/// The game the `every` vectors are checked against: it accepts whatever the bounds do.
struct EveryGame;

impl tickroom_engine::Game for EveryGame {
    type Input = Every;
    type Globals = ();
    fn name(&self) -> &'static str {
        "every"
    }
    fn build(&self, _: &mut bevy_ecs::world::World, _: &mut bevy_ecs::schedule::Schedule) {}
    fn globals(&self, _: &mut bevy_ecs::world::World) {}
}

/// A number as a JS client's msgpack encoder writes it: an integer when it is one, else a
/// float64.
fn num(v: f64) -> rmpv::Value {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9e15 {
        rmpv::Value::from(v as i64)
    } else {
        rmpv::Value::F64(v)
    }
}

fn map(entries: &[(&str, rmpv::Value)]) -> rmpv::Value {
    rmpv::Value::Map(
        entries
            .iter()
            .map(|(k, v)| (rmpv::Value::from(*k), v.clone()))
            .collect(),
    )
}

fn nums(vs: &[f64]) -> rmpv::Value {
    rmpv::Value::Array(vs.iter().map(|v| num(*v)).collect())
}

/// What the server answers an input: accepted, or the error it sends.
fn outcome<G: tickroom_engine::Game>(game: &G, bytes: &[u8]) -> serde_json::Value {
    use tickroom_engine::InputError;
    match tickroom_engine::decode_input(game, bytes) {
        Ok(_) => serde_json::json!({ "code": null }),
        Err(InputError::Decode(_)) => serde_json::json!({ "code": "bad_payload" }),
        Err(InputError::Invalid(e)) => {
            serde_json::json!({ "code": "invalid_input", "reason": e.reason })
        }
        Err(e) => panic!("decoding never answers {e}"),
    }
}

/// `clients/js/test/vectors/inputs.json`: inputs of three schemas (the arena's, tictactoe's
/// and one with every feature) as a JS client's encoder writes them, and what the server's
/// own decoding and checks ([`tickroom_engine::decode_input`]) answer: accepted,
/// `bad_payload`, or `invalid_input` with its reason. `checkInput` must answer the same.
fn input_vectors() -> String {
    use rmpv::Value as V;
    use tickroom_games::arena::{Arena, ArenaInput};
    use tickroom_games::tictactoe::{Move, TicTacToe};
    let nan = f64::NAN;
    let inf = f64::INFINITY;
    let arena: Vec<(&str, V)> = vec![
        ("held controls", map(&[("dir", nums(&[1.0, 0.0]))])),
        (
            "with buttons",
            map(&[("dir", nums(&[0.5, -1.0])), ("buttons", num(3.0))]),
        ),
        ("NaN", map(&[("dir", nums(&[nan, 0.0]))])),
        ("minus infinity", map(&[("dir", nums(&[0.0, -inf]))])),
        ("too far", map(&[("dir", nums(&[1.5, 0.0]))])),
        (
            "beyond float32: infinite once rounded",
            map(&[("dir", nums(&[1e39, 0.0]))]),
        ),
        (
            "above 1 even as a float32",
            map(&[("dir", nums(&[1.0000001, 0.0]))]),
        ),
        (
            "1 once rounded to float32",
            map(&[("dir", nums(&[1.00000001, 0.0]))]),
        ),
        (
            "an unknown button",
            map(&[("dir", nums(&[0.0, 0.0])), ("buttons", num(4.0))]),
        ),
        (
            "buttons beyond u8",
            map(&[("dir", nums(&[0.0, 0.0])), ("buttons", num(256.0))]),
        ),
        (
            "fractional buttons",
            map(&[("dir", nums(&[0.0, 0.0])), ("buttons", num(1.5))]),
        ),
        (
            "negative buttons",
            map(&[("dir", nums(&[0.0, 0.0])), ("buttons", num(-1.0))]),
        ),
        ("a short dir", map(&[("dir", nums(&[0.0]))])),
        ("a long dir", map(&[("dir", nums(&[0.0, 0.0, 0.0]))])),
        ("no dir", map(&[("buttons", num(0.0))])),
        (
            "an unknown key",
            map(&[("dir", nums(&[0.0, 0.0])), ("jump", V::Boolean(true))]),
        ),
        ("dir a string", map(&[("dir", V::from("up"))])),
        (
            "dir with a boolean",
            map(&[("dir", V::Array(vec![V::Boolean(true), num(0.0)]))]),
        ),
        ("dir nil", map(&[("dir", V::Nil)])),
        (
            "buttons nil",
            map(&[("dir", nums(&[0.0, 0.0])), ("buttons", V::Nil)]),
        ),
        (
            "an array, not a map",
            V::Array(vec![nums(&[0.0, 0.0]), num(0.0)]),
        ),
        ("a number", num(5.0)),
    ];
    let tictactoe: Vec<(&str, V)> = vec![
        ("a corner", map(&[("cell", num(8.0))])),
        ("off the board", map(&[("cell", num(9.0))])),
        ("negative", map(&[("cell", num(-1.0))])),
        ("beyond u8", map(&[("cell", num(300.0))])),
    ];
    let aim = |angle: f64, zoom: f64| map(&[("angle", num(angle)), ("zoom", num(zoom))]);
    let full = |extra: &[(&str, V)]| {
        let mut entries = vec![
            ("dir", nums(&[0.25, -0.5])),
            ("buttons", num(10.0)),
            ("say", V::from("gg")),
            ("aims", V::Array(vec![aim(90.0, 1.5)])),
            ("flag", V::Boolean(true)),
            ("steps", nums(&[-5.0, 5.0])),
            ("fine", num(0.1)),
        ];
        for (k, v) in extra {
            entries.retain(|(key, _)| key != k);
            entries.push((k, v.clone()));
        }
        map(&entries)
    };
    let every: Vec<(&str, V)> = vec![
        ("every field", full(&[])),
        (
            "only the required ones",
            map(&[("dir", nums(&[0.0, 0.0])), ("say", V::Nil)]),
        ),
        (
            "say may be left out (an option)",
            map(&[("dir", nums(&[0.0, 0.0]))]),
        ),
        (
            "an unknown key is ignored",
            full(&[("extra", V::from("x"))]),
        ),
        ("say nil", full(&[("say", V::Nil)])),
        ("say too long", full(&[("say", V::from("hello"))])),
        (
            "say of 4 bytes in 2 characters",
            full(&[("say", V::from("éé"))]),
        ),
        (
            "say of 5 bytes in 3 characters",
            full(&[("say", V::from("héé"))]),
        ),
        ("say a number", full(&[("say", num(1.0))])),
        (
            "too many aims",
            full(&[("aims", V::Array(vec![aim(1.0, 1.0); 3]))]),
        ),
        (
            "a nested bound first",
            full(&[("aims", V::Array(vec![aim(360.0, 1.0); 3]))]),
        ),
        (
            "a nested float not finite",
            full(&[("aims", V::Array(vec![aim(1.0, inf)]))]),
        ),
        (
            "a nested key missing",
            full(&[("aims", V::Array(vec![map(&[("angle", num(1.0))])]))]),
        ),
        ("a step too big", full(&[("steps", nums(&[0.0, 6.0]))])),
        ("a step beyond i8", full(&[("steps", nums(&[-129.0]))])),
        ("an unknown bit", full(&[("buttons", num(1.0))])),
        ("high bits", full(&[("buttons", num(1099511627776.0))])),
        ("flag a number", full(&[("flag", num(1.0))])),
        ("fine at its float32 end", full(&[("fine", num(0.1))])),
        ("fine just past it", full(&[("fine", num(0.1000001))])),
        ("fine nil", full(&[("fine", V::Nil)])),
        ("fine NaN", full(&[("fine", num(nan))])),
        (
            "dir NaN and a step too big: finite first",
            full(&[("dir", nums(&[nan, 0.0])), ("steps", nums(&[9.0]))]),
        ),
    ];
    let mut cases = Vec::new();
    let mut add = |schema: &str, note: &str, v: &V, out: serde_json::Value| {
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, v).expect("encode");
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        cases.push(
            serde_json::json!({ "schema": schema, "note": note, "msgpack": hex, "expect": out }),
        );
    };
    let bytes = |v: &V| {
        let mut b = Vec::new();
        rmpv::encode::write_value(&mut b, v).expect("encode");
        b
    };
    for (note, v) in &arena {
        add("arena", note, v, outcome(&Arena, &bytes(v)));
    }
    for (note, v) in &tictactoe {
        add("tictactoe", note, v, outcome(&TicTacToe, &bytes(v)));
    }
    for (note, v) in &every {
        add("every", note, v, outcome(&EveryGame, &bytes(v)));
    }
    let doc = serde_json::json!({
        "about": "Generated by tests/tests/js_package/generated.rs from the server's input \
                  decoding and checks (tickroom_engine::decode_input); `msgpack` is one input \
                  as a JS client encodes it, `expect` what the server answers (code null: \
                  accepted; invalid_input comes with the reason it sends).",
        "schemas": {
            "arena": ArenaInput::schema(),
            "tictactoe": Move::schema(),
            "every": Every::schema(),
        },
        "cases": cases,
    });
    serde_json::to_string_pretty(&doc).expect("json") + "\n"
}

#[test]
fn input_conformance_vectors_match_the_server_checks() {
    check("test/vectors/inputs.json", &input_vectors());
}

//! Drawing a [`Frame`]: the scenery once (ground, fence, lanes, booth), then every update the
//! people, terminal colours, doors, the car gate and the panel of counters.

use bevy::camera::ScalingMode;
use bevy::prelude::*;
use bevy::text::FontSize;

use super::{Feed, Shown, ViewClock, clock_hm};
use crate::record::{Look, Stage, TerminalState};

pub const BACKGROUND: Color = Color::srgb_u8(0x1e, 0x22, 0x27);
const COMPOUND_GROUND: Color = Color::srgb_u8(0x2b, 0x36, 0x2d);
const STREET_GROUND: Color = Color::srgb_u8(0x33, 0x36, 0x3b);
const FENCE: Color = Color::srgb_u8(0x8a, 0x8f, 0x98);
const LANE_FLOOR: Color = Color::srgb_u8(0x4a, 0x4f, 0x57);
const CHANNEL_WALL: Color = Color::srgb_u8(0xc8, 0xcc, 0xd2);
const DOOR_CLOSED: Color = Color::srgb_u8(0xe6, 0xe6, 0xe6);
const DOOR_OPEN: Color = Color::srgb_u8(0x7f, 0xd1, 0xff);
const BOOTH: Color = Color::srgb_u8(0x6b, 0x5b, 0x95);
const CAR_GATE_OPEN: Color = Color::srgb_u8(0xff, 0xd1, 0x66);
const TAILGATER_RING: Color = Color::srgb_u8(0xff, 0x00, 0x00);
const PANEL: Color = Color::srgba(0.05, 0.06, 0.07, 0.88);
const TEXT: Color = Color::srgb(0.92, 0.93, 0.95);

/// Width of the panel on the left, in logical pixels; the stage is fitted to the rest.
pub const PANEL_PX: f32 = 330.0;
pub const AGENT_RADIUS_M: f32 = 0.25;

pub fn look_color(look: Look) -> Color {
    match look {
        Look::EnrolledFace => Color::srgb_u8(0x4c, 0xc9, 0xf0),
        Look::OptOutCard => Color::srgb_u8(0xf7, 0x25, 0x85),
        Look::Renter => Color::srgb_u8(0xb5, 0xe4, 0x8c),
        Look::OtherResident => Color::srgb_u8(0xad, 0xb5, 0xbd),
        Look::Visitor => Color::srgb_u8(0xff, 0xbe, 0x0b),
        Look::Courier => Color::srgb_u8(0xfb, 0x56, 0x07),
    }
}

fn look_label(look: Look) -> &'static str {
    match look {
        Look::EnrolledFace => "resident, enrolled face",
        Look::OptOutCard => "resident, opted out (card)",
        Look::Renter => "renter",
        Look::OtherResident => "resident, not enrolled",
        Look::Visitor => "visitor",
        Look::Courier => "courier",
    }
}

fn terminal_color(state: TerminalState) -> Color {
    match state {
        TerminalState::Working => Color::srgb_u8(0x3d, 0xdc, 0x84),
        TerminalState::CameraBroken => Color::srgb_u8(0xff, 0x4d, 0x4d),
        TerminalState::Degraded => Color::srgb_u8(0xff, 0xb0, 0x20),
    }
}

/// Systems that draw the shown frame; the controls and the feed run before them.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DrawSet;

#[derive(Debug)]
pub struct ScenePlugin;

impl Plugin for ScenePlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, (spawn_camera, spawn_scenery, spawn_panel))
            .add_systems(Update, (fit_camera, draw_agents, draw_gates, draw_panel).in_set(DrawSet));
    }
}

#[derive(Component, Debug)]
pub struct ViewCamera;

/// One drawn person (respawned every update from the frame).
#[derive(Component, Debug)]
pub struct AgentMark {
    pub serial: u64,
    pub look: Look,
}

#[derive(Component, Debug)]
struct TerminalMark(usize);
#[derive(Component, Debug)]
struct DoorMark(usize);
/// The guard's side door or car gate of gate `.0`.
#[derive(Component, Debug)]
struct GuardGateMark(usize);
#[derive(Component, Debug)]
struct ClockText;
#[derive(Component, Debug)]
struct CountersText;

/// Shared meshes and materials for people.
#[derive(Resource, Debug)]
struct AgentArt {
    disc: Handle<Mesh>,
    ring: Handle<Mesh>,
    looks: Vec<(Look, Handle<ColorMaterial>)>,
    tailgater: Handle<ColorMaterial>,
}

fn spawn_camera(mut commands: Commands) {
    // A screenshot run points it at an image instead of a window (`shot.rs`, after start-up).
    commands.spawn((Camera2d, ViewCamera, IsDefaultUiCamera));
}

fn rect(commands: &mut Commands, color: Color, centre: Vec2, size: Vec2, z: f32) -> Entity {
    commands.spawn((Sprite::from_color(color, size), Transform::from_translation(centre.extend(z)))).id()
}

/// Bounds of what is drawn, in metres: (min, max).
pub fn stage_bounds(stage: &Stage) -> (Vec2, Vec2) {
    let r = stage.plaza_radius_m;
    let mut lo = Vec2::new(f32::MAX, -(r + 2.0));
    let mut hi = Vec2::new(f32::MIN, r + 2.0);
    for g in &stage.gates {
        lo.x = lo.x.min(g.x - r);
        hi.x = hi.x.max(g.x + r).max(g.guard_path_x + g.guard_path_width / 2.0 + 5.0);
    }
    for l in &stage.lanes {
        lo.x = lo.x.min(l.x - l.width - 2.0);
    }
    if lo.x > hi.x {
        (lo.x, hi.x) = (-r, r);
    }
    (lo, hi)
}

fn spawn_scenery(
    mut commands: Commands,
    feed: Res<Feed>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<ColorMaterial>>,
) {
    let stage = feed.stage();
    let (lo, hi) = stage_bounds(stage);
    let width = hi.x - lo.x;
    let mid_x = (lo.x + hi.x) / 2.0;
    // Ground: the compound (outbound people come from y < 0) and the street.
    rect(&mut commands, COMPOUND_GROUND, Vec2::new(mid_x, lo.y / 2.0), Vec2::new(width, -lo.y), 0.0);
    rect(&mut commands, STREET_GROUND, Vec2::new(mid_x, hi.y / 2.0), Vec2::new(width, hi.y), 0.0);
    // The fence along the gate line, broken where lanes and guard paths go through.
    let mut openings: Vec<(f32, f32)> =
        stage.lanes.iter().map(|l| (l.x - l.width / 2.0, l.x + l.width / 2.0)).collect();
    openings.extend(
        stage
            .gates
            .iter()
            .map(|g| (g.guard_path_x - g.guard_path_width / 2.0, g.guard_path_x + g.guard_path_width / 2.0)),
    );
    openings.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut x = lo.x;
    for (from, to) in openings.iter().copied().chain([(hi.x, hi.x)]) {
        if from > x {
            rect(&mut commands, FENCE, Vec2::new((x + from) / 2.0, 0.0), Vec2::new(from - x, 0.25), 2.0);
        }
        x = x.max(to);
    }
    for (l, lane) in stage.lanes.iter().enumerate() {
        let channel = 2.0 * crate::engine::model::CHANNEL_HALF_LENGTH_M;
        rect(&mut commands, LANE_FLOOR, Vec2::new(lane.x, 0.0), Vec2::new(lane.width, channel), 1.0);
        // The terminal stands on the side people come from, at the lane's right-hand wall.
        let side = if lane.inbound { 1.0 } else { -1.0 };
        let terminal = rect(
            &mut commands,
            terminal_color(TerminalState::Working),
            Vec2::new(lane.x + lane.width / 2.0, side * 0.5),
            Vec2::new(0.3, 0.3),
            3.0,
        );
        commands.entity(terminal).insert(TerminalMark(l));
        let door = rect(&mut commands, DOOR_CLOSED, Vec2::new(lane.x, 0.0), Vec2::new(lane.width, 0.12), 3.0);
        commands.entity(door).insert(DoorMark(l));
    }
    for [x0, y0, x1, y1] in &stage.walls {
        let (a, b) = (Vec2::new(*x0, *y0), Vec2::new(*x1, *y1));
        let size = Vec2::new((b.x - a.x).abs().max(0.08), (b.y - a.y).abs().max(0.08));
        rect(&mut commands, CHANNEL_WALL, (a + b) / 2.0, size, 2.0);
    }
    for (g, gate) in stage.gates.iter().enumerate() {
        let booth_x = gate.guard_path_x + gate.guard_path_width / 2.0 + 1.2;
        rect(&mut commands, BOOTH, Vec2::new(booth_x, 0.0), Vec2::new(1.8, 1.6), 2.0);
        let bar = rect(
            &mut commands,
            DOOR_CLOSED,
            Vec2::new(gate.guard_path_x, 0.0),
            Vec2::new(gate.guard_path_width, if gate.car_gate { 0.2 } else { 0.12 }),
            3.0,
        );
        commands.entity(bar).insert(GuardGateMark(g));
    }
    let looks = Look::ALL.iter().map(|&l| (l, materials.add(look_color(l)))).collect();
    commands.insert_resource(AgentArt {
        disc: meshes.add(Circle::new(AGENT_RADIUS_M)),
        ring: meshes.add(Circle::new(AGENT_RADIUS_M + 0.12)),
        looks,
        tailgater: materials.add(TAILGATER_RING),
    });
}

fn text(value: impl Into<String>, size: f32, color: Color) -> impl Bundle {
    (Text::new(value), TextFont { font_size: FontSize::Px(size), ..default() }, TextColor(color))
}

fn spawn_panel(mut commands: Commands, feed: Res<Feed>) {
    let title = feed.title();
    commands
        .spawn((
            Node {
                position_type: PositionType::Absolute,
                left: Val::Px(0.0),
                top: Val::Px(0.0),
                width: Val::Px(PANEL_PX),
                height: Val::Percent(100.0),
                flex_direction: FlexDirection::Column,
                padding: UiRect::all(Val::Px(10.0)),
                row_gap: Val::Px(6.0),
                ..default()
            },
            BackgroundColor(PANEL),
        ))
        .with_children(|panel| {
            panel.spawn(text(title, 15.0, TEXT));
            panel.spawn((text("", 30.0, TEXT), ClockText));
            panel.spawn((text("", 14.0, TEXT), CountersText));
            for look in Look::ALL {
                panel
                    .spawn(Node { flex_direction: FlexDirection::Row, column_gap: Val::Px(8.0), ..default() })
                    .with_children(|row| {
                        row.spawn((
                            Node { width: Val::Px(12.0), height: Val::Px(12.0), margin: UiRect::top(Val::Px(3.0)), ..default() },
                            BackgroundColor(look_color(look)),
                        ));
                        row.spawn(text(look_label(look), 13.0, TEXT));
                    });
            }
            // Plain ASCII: the embedded default font has no arrows or dashes.
            panel.spawn(text(
                "red ring: tailgater\nterminal: green working, red camera broken,\n  amber degraded; door blue when open\n\n\
                 keys: space pause | right arrow step\nup/down speed | Z/X zoom in/out\n[ ] 5 min back/on | Home start\n\
                 J then HHMM Enter: jump | P screenshot",
                12.0,
                Color::srgb(0.7, 0.72, 0.75),
            ));
        });
}

/// Fit the stage into the part of the view right of the panel, whatever the window's size.
fn fit_camera(
    feed: Res<Feed>,
    clock: Res<ViewClock>,
    mut cameras: Query<(&Camera, &mut Projection, &mut Transform), With<ViewCamera>>,
) {
    let (lo, hi) = stage_bounds(feed.stage());
    for (camera, mut projection, mut transform) in &mut cameras {
        let Some(size) = camera.logical_target_size() else { continue };
        let room = Vec2::new((size.x - PANEL_PX).max(50.0), size.y.max(50.0));
        let metres_per_px = ((hi.x - lo.x) / room.x).max((hi.y - lo.y) / room.y) / clock.zoom;
        if let Projection::Orthographic(ortho) = &mut *projection {
            ortho.scaling_mode = ScalingMode::WindowSize;
            ortho.scale = metres_per_px;
        }
        let centre = (lo + hi) / 2.0;
        transform.translation.x = centre.x - PANEL_PX / 2.0 * metres_per_px;
        transform.translation.y = centre.y;
    }
}

fn draw_agents(mut commands: Commands, shown: Res<Shown>, art: Res<AgentArt>, old: Query<Entity, PersonMarks>) {
    // Redrawn only when the frame changed: a paused view (and a screenshot) keeps its entities,
    // so the renderer's visibility of them is known.
    if !shown.is_changed() {
        return;
    }
    for e in &old {
        commands.entity(e).despawn();
    }
    for dot in &shown.0.agents {
        let at = Vec2::new(dot.x, dot.y);
        let material = art.looks.iter().find(|(l, _)| *l == dot.look).map(|(_, m)| m.clone()).unwrap_or_default();
        commands.spawn((
            Mesh2d(art.disc.clone()),
            MeshMaterial2d(material),
            Transform::from_translation(at.extend(5.0)),
            AgentMark { serial: dot.serial, look: dot.look },
        ));
        if dot.tailgating {
            commands.spawn((
                Mesh2d(art.ring.clone()),
                MeshMaterial2d(art.tailgater.clone()),
                Transform::from_translation(at.extend(4.0)),
                TailgaterRing,
            ));
        }
    }
}

#[derive(Component, Debug)]
struct TailgaterRing;

/// Everything drawn for a person: their disc and, for tailgaters, the ring.
type PersonMarks = Or<(With<AgentMark>, With<TailgaterRing>)>;

type GateSprites<'w, 's> = Query<
    'w,
    's,
    (
        &'static mut Sprite,
        &'static mut Transform,
        Option<&'static TerminalMark>,
        Option<&'static DoorMark>,
        Option<&'static GuardGateMark>,
    ),
    Or<(With<TerminalMark>, With<DoorMark>, With<GuardGateMark>)>,
>;

fn draw_gates(shown: Res<Shown>, feed: Res<Feed>, mut sprites: GateSprites) {
    let frame = &shown.0;
    let stage = feed.stage();
    for (mut sprite, mut transform, terminal, door, guard) in &mut sprites {
        if let Some(TerminalMark(l)) = terminal
            && let Some(t) = frame.terminals.get(*l)
        {
            sprite.color = terminal_color(t.state);
        }
        if let Some(DoorMark(l)) = door {
            let lane = &stage.lanes[*l];
            let open = frame.terminals.get(*l).is_some_and(|t| t.door_open);
            // An open leaf swings against the channel wall.
            if open {
                sprite.color = DOOR_OPEN;
                sprite.custom_size = Some(Vec2::new(0.12, lane.width * 0.8));
                transform.translation.x = lane.x - lane.width / 2.0 + 0.1;
            } else {
                sprite.color = DOOR_CLOSED;
                sprite.custom_size = Some(Vec2::new(lane.width, 0.12));
                transform.translation.x = lane.x;
            }
        }
        if let Some(GuardGateMark(g)) = guard {
            let gate = &stage.gates[*g];
            let crowd = frame.car_gate_open.get(*g).copied().unwrap_or(false);
            let open = crowd || frame.guard_door_open.get(*g).copied().unwrap_or(false);
            sprite.color = if crowd {
                CAR_GATE_OPEN
            } else if open {
                DOOR_OPEN
            } else {
                DOOR_CLOSED
            };
            // Open: the leaf slides aside to a quarter of the opening.
            let width = if open { gate.guard_path_width / 4.0 } else { gate.guard_path_width };
            let thickness = if gate.car_gate { 0.2 } else { 0.12 };
            sprite.custom_size = Some(Vec2::new(width, thickness));
            transform.translation.x = gate.guard_path_x - gate.guard_path_width / 2.0 + width / 2.0;
        }
    }
}

fn draw_panel(
    shown: Res<Shown>,
    clock: Res<ViewClock>,
    feed: Res<Feed>,
    mut clock_text: Query<&mut Text, (With<ClockText>, Without<CountersText>)>,
    mut counters_text: Query<&mut Text, (With<CountersText>, Without<ClockText>)>,
) {
    let t = clock.t_ms as u64;
    let seconds = t / 1000 % 60;
    let state = if let Some(typed) = &clock.typing {
        format!("jump to {typed}_")
    } else if feed.finished() {
        "end".to_string()
    } else if clock.paused {
        "paused".to_string()
    } else {
        format!("x{}", clock.speed)
    };
    for mut text in &mut clock_text {
        text.0 = format!("{}:{seconds:02}  {state}", clock_hm(t));
    }
    let c = &shown.0.counters;
    let stage = feed.stage();
    let mut lines = vec![
        format!("in the plaza        {}", shown.0.agents.len()),
        format!("passages            {}", c.passages),
        format!("throughput (15 min) {:.1}/min", c.throughput_per_min),
        format!(
            "wait p95            {}",
            if c.wait_p95_s.is_finite() { format!("{:.0} s", c.wait_p95_s) } else { "-".into() }
        ),
        format!("tailgating detected {}", c.tailgating_detected),
        format!("  undetected        {}", c.tailgating_undetected),
        format!("uncontrolled        {}", c.uncontrolled_passages),
        format!("consent violations  {}", c.consent_violations),
        "queues:".to_string(),
    ];
    for (name, n) in stage.queue_names.iter().zip(&c.queues) {
        lines.push(format!("  {name:<18}{n}"));
    }
    for mut text in &mut counters_text {
        text.0 = lines.join("\n");
    }
}

"""The six scene types and their pedestrian simulation with JuPedSim.

World units are metres (x east, y north). Each :class:`Scenario` holds the walkable geometry,
exits and waypoints, routes, sources that keep people arriving, groups of people who stand
still (crowd in the ground truth, but without motion), spectators who never move, static
clutter for the renderer, an optional road for a passing car (a moving non-crowd distractor)
and the camera placement. :func:`simulate` runs the scenario in JuPedSim's collision-free
speed model (imported lazily, so that ``import pympas`` never needs it) and returns the
trajectories sampled at the video frame rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1
Point = tuple[float, float]

FPS = 25.0
SIM_DT = 0.01
STEPS_PER_FRAME = 4  # 4 * 0.01 s = 1 / 25 s
SPECTATOR_ID0 = 1_000_000  # ids of people who are not simulated (they never move)


@dataclass
class Source:
    """People arriving at ``rate`` per second (at density 1) uniformly inside ``rect``."""

    rect: Rect
    route: str
    rate: float


@dataclass
class Scenario:
    """Everything that defines one scene type; see the module docstring."""

    name: str
    description: str
    walkable: list[list[Point]]  # outer ring, then holes
    exits: dict[str, Rect]
    routes: dict[str, list[str]]  # route -> stage names; "a|b" alternates (round robin)
    waypoints: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # x, y, radius
    loops: tuple[str, ...] = ()  # routes whose last stage leads back to their first
    sources: list[Source] = field(default_factory=list)
    initial: list[tuple[Rect, float, tuple[str, ...]]] = field(default_factory=list)  # per m2
    standing_areas: list[Rect] = field(default_factory=list)
    standing_groups: int = 3
    spectator_areas: list[tuple[Rect, int]] = field(default_factory=list)
    speed: tuple[float, float] = (1.3, 0.15)  # desired speed: mean, sd (m/s)
    time_gap: float = 1.0  # collision-free speed model: seconds kept to the person ahead
    warmup: float = 4.0
    # rendering
    yaw: float = 0.0
    pitch: float = 40.0
    fov: float = 60.0
    zoom: float = 1.0
    view: list[Point] = field(default_factory=list)  # ground points the camera must see
    road: tuple[Point, Point] | None = None  # centre line of a road for the car
    road_width: float = 6.0
    car_period: float = 7.0  # seconds between cars (mean)
    benches: list[tuple[float, float, float]] = field(default_factory=list)  # x, y, angle (deg)
    poles: list[Point] = field(default_factory=list)
    bins: list[Point] = field(default_factory=list)
    planters: list[Rect] = field(default_factory=list)
    barriers: list[list[Point]] = field(default_factory=list)  # polylines of 1 m fences
    markings: list[tuple[list[Point], float, bool]] = field(default_factory=list)  # line, w, dashed
    circles: list[tuple[Point, float, float]] = field(default_factory=list)  # centre, r, width
    outside: str = "asphalt"  # ground outside the walkable area: asphalt | grass

    def to_dict(self) -> dict:
        return {
            k: v for k, v in self.__dict__.items() if k not in ("description",) and not callable(v)
        } | {"sources": [s.__dict__ for s in self.sources]}


def _rect_ring(r: Rect) -> list[Point]:
    x0, y0, x1, y1 = r
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def corridor() -> Scenario:
    """Bidirectional corridor (28 x 7 m): two counter-flowing streams form lanes."""
    return Scenario(
        name="corridor",
        description="bidirectional corridor: two opposite streams, street with cars alongside",
        walkable=[_rect_ring((0, 0, 28, 7))],
        exits={"east": (27.4, 0, 28, 7), "west": (0, 0, 0.6, 7)},
        routes={"east": ["east"], "west": ["west"]},
        sources=[
            Source((0.6, 0.4, 2.4, 6.6), "east", 1.3),
            Source((25.6, 0.4, 27.4, 6.6), "west", 1.3),
        ],
        initial=[((1, 0.3, 27, 6.7), 0.45, ("east", "west"))],
        standing_areas=[(3, 0.4, 25, 1.4), (3, 5.6, 25, 6.6)],
        standing_groups=3,
        yaw=60.0,
        pitch=35.0,
        zoom=1.5,
        view=[(0, -1), (28, -1), (28, 8), (0, 8)],
        road=((-40, -5.5), (70, -5.5)),
        benches=[(4, 8.0, 0), (12, 8.0, 0), (20, 8.0, 0)],
        poles=[(x, -1.3) for x in (2, 9, 16, 23)] + [(x, 8.6) for x in (8, 16, 24)],
        bins=[(6, 8.2), (18, 8.2)],
        barriers=[[(0, 7.4), (2.5, 7.4)], [(26, 7.4), (28, 7.4)]],
        markings=[([(0, 3.5), (28, 3.5)], 0.12, True), ([(0, -0.4), (28, -0.4)], 0.2, False)],
        outside="asphalt",
    )


def crossing() -> Scenario:
    """Two streams crossing at right angles in a plus-shaped square (arms 7 m wide)."""
    return Scenario(
        name="crossing",
        description="two crossing streams (west->east and south->north)",
        walkable=[
            [
                (-16, -3.5),
                (-3.5, -3.5),
                (-3.5, -14),
                (3.5, -14),
                (3.5, -3.5),
                (16, -3.5),
                (16, 3.5),
                (3.5, 3.5),
                (3.5, 14),
                (-3.5, 14),
                (-3.5, 3.5),
                (-16, 3.5),
            ]
        ],
        exits={"east": (15.4, -3.5, 16, 3.5), "north": (-3.5, 13.4, 3.5, 14)},
        routes={"east": ["east"], "north": ["north"]},
        sources=[
            Source((-15.8, -3.1, -14, 3.1), "east", 1.5),
            Source((-3.1, -13.8, 3.1, -12), "north", 1.5),
        ],
        initial=[((-15, -3.2, 15, 3.2), 0.3, ("east",)), ((-3.2, -13, 3.2, 13), 0.3, ("north",))],
        standing_areas=[(5, -3.2, 14, -2.2), (-3.2, 5, -2.2, 12), (-14, 2.2, -5, 3.2)],
        standing_groups=3,
        yaw=45.0,
        pitch=42.0,
        zoom=1.35,
        view=[(-16, -3.5), (16, 3.5), (-3.5, -14), (3.5, 14), (16, -3.5), (-16, 3.5)],
        benches=[(7, 5.5, 0), (-7, -5.5, 0), (6.5, -6.5, 90), (-6, 7, 90)],
        poles=[(5, 5), (-5, -5), (5, -5), (-5, 5), (11, 5), (-11, -5)],
        planters=[(8, 8, 10, 10), (-10, -10, -8, -8), (8, -10, 10, -8), (-10, 8, -8, 10)],
        bins=[(4.2, 6), (-4.2, -6)],
        markings=[
            ([(-3.5, -3.5), (3.5, -3.5), (3.5, 3.5), (-3.5, 3.5), (-3.5, -3.5)], 0.15, False)
        ],
        circles=[((0, 0), 2.2, 0.18)],
        outside="grass",
    )


def bottleneck() -> Scenario:
    """A crowded room emptying through a 1.2 m door into a corridor."""
    return Scenario(
        name="bottleneck",
        description="bottleneck: a crowded room drains through a 1.2 m door",
        walkable=[
            [
                (0, 0),
                (14, 0),
                (14, 5.4),
                (14.4, 5.4),
                (14.4, 3.5),
                (24, 3.5),
                (24, 8.5),
                (14.4, 8.5),
                (14.4, 6.6),
                (14, 6.6),
                (14, 12),
                (0, 12),
            ]
        ],
        exits={"out": (23.4, 3.5, 24, 8.5)},
        routes={"out": ["out"]},
        sources=[Source((0.3, 0.5, 2.5, 11.5), "out", 1.6)],
        initial=[((3, 0.4, 13.7, 11.6), 1.3, ("out",)), ((14.8, 3.9, 23, 8.1), 0.3, ("out",))],
        standing_areas=[(0.5, 0.4, 4, 2), (0.5, 10, 4, 11.6)],
        standing_groups=2,
        speed=(1.25, 0.15),
        warmup=5.0,
        yaw=75.0,
        pitch=45.0,
        zoom=1.1,
        view=[(0, 0), (24, 3.5), (24, 8.5), (0, 12)],
        barriers=[[(14.2, -0.2), (14.2, 5.4)], [(14.2, 6.6), (14.2, 12.2)]],
        poles=[(16, 2.8), (20, 2.8), (16, 9.2), (20, 9.2)],
        benches=[(18, 10, 0), (7, -1, 0)],
        bins=[(22, 9.5)],
        markings=[([(12.5, 5.2), (12.5, 6.8)], 0.1, False), ([(14.4, 6), (24, 6)], 0.1, True)],
        outside="asphalt",
    )


def split() -> Scenario:
    """A dense group walks up a street and splits left and right at a T-junction."""
    return Scenario(
        name="split",
        description="a group that splits at a T-junction into two streams",
        walkable=[[(-3, 0), (3, 0), (3, 14), (18, 14), (18, 20), (-18, 20), (-18, 14), (-3, 14)]],
        exits={"left": (-18, 14, -17.4, 20), "right": (17.4, 14, 18, 20)},
        routes={"left": ["left"], "right": ["right"]},
        sources=[Source((-2.6, 0.2, 2.6, 1.8), r, 0.5) for r in ("left", "right")],
        initial=[((-2.7, 2.5, 2.7, 12.5), 1.5, ("left", "right"))],
        standing_areas=[(-16, 18.8, -5, 19.7), (5, 18.8, 16, 19.7), (-2.7, 0.5, -1.5, 3)],
        standing_groups=3,
        warmup=1.0,
        yaw=90.0,
        pitch=45.0,
        zoom=1.15,
        view=[(-18, 14), (18, 14), (18, 21), (-18, 21), (-3, 0), (3, 0)],
        road=((-60, 23.5), (60, 23.5)),
        benches=[(-8, 12.5, 0), (8, 12.5, 0), (-5, 5, 90)],
        poles=[(-4, 2), (4, 2), (-4, 9), (4, 9), (-12, 20.8), (12, 20.8)],
        bins=[(5, 5)],
        planters=[(-12, 8, -6, 11), (6, 8, 12, 11)],
        markings=[([(0, 0), (0, 13)], 0.12, True), ([(-18, 20.4), (18, 20.4)], 0.2, False)],
        outside="grass",
    )


def ring() -> Scenario:
    """A marathon-like stream running round a circular track, spectators along the rim."""
    n = 16
    wps = {f"w{i}": (10 * math.cos(2 * math.pi * i / n), 10 * math.sin(2 * math.pi * i / n), 2.0)
           for i in range(n)}  # fmt: skip
    outer = [(13 * math.cos(a), 13 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 48, False)]
    inner = [(7 * math.cos(a), 7 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 32, False)]
    spect = []
    for a0 in (0.3, 1.6, 2.9, 4.4, 5.5):
        c, s = math.cos(a0), math.sin(a0)
        spect.append(((14.6 * c - 1.5, 14.6 * s - 1.5, 14.6 * c + 1.5, 14.6 * s + 1.5), 6))
    fence = [(13.6 * math.cos(a), 13.6 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 41)]
    return Scenario(
        name="ring",
        description="a marathon-like stream round a ring, spectators standing behind a fence",
        walkable=[outer, inner],
        exits={},
        waypoints=wps,
        routes={"loop": list(wps)},
        loops=("loop",),
        initial=[((-13, -13, 13, 13), 0.4, ("loop",))],
        spectator_areas=spect,
        standing_areas=[(-5.2, -5.2, 5.2, 5.2)],
        standing_groups=0,
        speed=(2.6, 0.3),
        time_gap=0.45,
        warmup=3.0,
        yaw=90.0,
        pitch=50.0,
        zoom=1.0,
        view=[(-15, -15), (15, -15), (15, 15), (-15, 15)],
        barriers=[fence],
        poles=[(0, 0), (-16.5, 0), (16.5, 0)],
        benches=[(-2, -3.5, 0), (2, 3.5, 0)],
        circles=[
            ((0, 0), 8.5, 0.1),
            ((0, 0), 10, 0.1),
            ((0, 0), 11.5, 0.1),
            ((0, 0), 13, 0.2),
            ((0, 0), 7, 0.2),
        ],
        outside="grass",
    )


def plaza() -> Scenario:
    """A large square seen from high above: sparse people crossing between four gates."""
    gates = {
        "n": (-3, 35.4, 3, 36),
        "s": (-3, 0, 3, 0.6),
        "e": (23.4, 15, 24, 21),
        "w": (-24, 15, -23.4, 21),
    }
    routes = {g: [g] for g in gates}
    src = {
        "n": (-3, 33.5, 3, 35.4),
        "s": (-3, 0.6, 3, 2.5),
        "e": (21.5, 15, 23.4, 21),
        "w": (-23.4, 15, -21.5, 21),
    }
    sources = [Source(src[a], b, 0.12) for a in gates for b in gates if a != b]
    return Scenario(
        name="plaza",
        description="a sparse plaza seen from high above (small people, near top-down)",
        walkable=[_rect_ring((-24, 0, 24, 36))],
        exits=gates,
        routes=routes,
        sources=sources,
        initial=[((-23, 1, 23, 35), 0.025, tuple(gates))],
        standing_areas=[(-20, 3, 20, 33)],
        standing_groups=5,
        speed=(1.3, 0.2),
        warmup=2.0,
        yaw=90.0,
        pitch=80.0,
        fov=55.0,
        zoom=1.15,
        view=[(-24, -3), (24, -3), (24, 36), (-24, 36)],
        road=((-80, -3.5), (80, -3.5)),
        road_width=5.0,
        car_period=5.0,
        benches=[(-10, 10, 0), (10, 10, 0), (-10, 26, 0), (10, 26, 0), (0, 6, 90)],
        poles=[(-16, 6), (16, 6), (-16, 30), (16, 30), (-6, 18), (6, 18)],
        planters=[(-20, 28, -17, 31), (17, 28, 20, 31), (-20, 5, -17, 8), (17, 5, 20, 8)],
        bins=[(-12, 10), (12, 26)],
        markings=[([(-24, 0.2), (24, 0.2)], 0.25, False)],
        circles=[((0, 18), 5.0, 0.3), ((0, 18), 7.0, 0.15)],
        outside="asphalt",
    )


SCENARIOS = {
    f.__name__: f for f in (corridor, crossing, bottleneck, split, ring, plaza)
}  # name -> factory


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name`` (one of :data:`SCENARIOS`), else ValueError."""
    if not isinstance(name, str):
        raise TypeError(f"scenario must be a string, got {type(name).__name__}")
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    return SCENARIOS[name]()


@dataclass
class Trajectories:
    """People's ground positions sampled at :data:`FPS`, flat over frames.

    ``ids`` (N,) int64, ``xy`` (N, 2) metres, ``heading`` (N, 2) unit vectors, ``speed`` (N,)
    m/s, ``standing`` (N,) bool (held in place: a standing group or a spectator), ``offsets``
    (F+1,): frame f holds rows ``offsets[f]:offsets[f+1]``.
    """

    ids: np.ndarray
    xy: np.ndarray
    heading: np.ndarray
    speed: np.ndarray
    standing: np.ndarray
    offsets: np.ndarray

    @property
    def n_frames(self) -> int:
        return len(self.offsets) - 1

    def frame(self, f: int) -> slice:
        return slice(int(self.offsets[f]), int(self.offsets[f + 1]))


def _import_jupedsim():
    try:
        import jupedsim
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "pympas.synth needs JuPedSim: pip install 'pympas[synth]' (or pip install jupedsim)"
        ) from exc
    return jupedsim


def simulate(
    scenario: Scenario, *, frames: int, seed: int = 0, density: float = 1.0
) -> Trajectories:
    """Run ``scenario`` in JuPedSim for ``frames`` video frames (after its warm-up) and return
    the trajectories. Deterministic given ``seed``; ``density`` scales every head count."""
    jps = _import_jupedsim()
    import shapely

    rng = np.random.default_rng([seed, 7])
    shell, *holes = scenario.walkable
    geometry = shapely.Polygon(shell, holes)
    sim = jps.Simulation(model=jps.CollisionFreeSpeedModel(), geometry=geometry, dt=SIM_DT)

    stage: dict[str, int] = {}
    for name, rect in scenario.exits.items():
        stage[name] = sim.add_exit_stage(_rect_ring(rect))
    for name, (x, y, r) in scenario.waypoints.items():
        stage[name] = sim.add_waypoint_stage((x, y), r)

    journeys: dict[str, tuple[int, int]] = {}  # route -> journey id, first stage id
    for route, names in scenario.routes.items():
        steps = [[stage[a] for a in n.split("|")] for n in names]
        jd = jps.JourneyDescription([s for alt in steps for s in alt])
        for i in range(len(steps) - 1):
            nxt = steps[i + 1]
            tr = (
                jps.Transition.create_fixed_transition(nxt[0])
                if len(nxt) == 1
                else jps.Transition.create_round_robin_transition([(s, 1) for s in nxt])
            )
            for s in steps[i]:
                jd.set_transition_for_stage(s, tr)
        if route in scenario.loops:
            jd.set_transition_for_stage(
                steps[-1][0], jps.Transition.create_fixed_transition(steps[0][0])
            )
        journeys[route] = (sim.add_journey(jd), steps[0][0])

    def first_stage(route: str, pos: Point) -> int:
        _jid, sid = journeys[route]
        if route in scenario.loops:  # the waypoint ahead (counter-clockwise) of the position
            pts = np.array([scenario.waypoints[n][:2] for n in scenario.routes[route]])
            ang = np.arctan2(pts[:, 1], pts[:, 0])
            a = math.atan2(pos[1], pos[0])
            ahead = np.mod(ang - a, 2 * math.pi)
            ahead[ahead < 0.25] += 2 * math.pi
            sid = stage[scenario.routes[route][int(np.argmin(ahead))]]
        return sid

    local: dict[int, int] = {}  # JuPedSim agent id -> id in this scene (1, 2, ... in order)
    initial_heading: dict[int, np.ndarray] = {}

    def add(pos: Point, route: str, *, journey_stage: tuple[int, int] | None = None) -> int | None:
        v0 = float(np.clip(rng.normal(*scenario.speed), 0.5, 4.0))
        radius = float(rng.uniform(0.17, 0.21))
        jid, sid = journey_stage if journey_stage else (journeys[route][0], first_stage(route, pos))
        if list(sim.agents_in_range(pos, 2 * radius + 0.05)):
            return None
        try:
            aid = sim.add_agent(
                jps.CollisionFreeSpeedModelAgentParameters(
                    position=pos,
                    journey_id=jid,
                    stage_id=sid,
                    desired_speed=v0,
                    radius=radius,
                    time_gap=scenario.time_gap,
                )
            )
        except RuntimeError:  # too close to a wall or another agent: skip this one
            return None
        local[aid] = len(local) + 1  # JuPedSim's ids count across simulations in a process
        return aid

    # standing groups: a waiting set each, released at a random time (or never)
    n_frames_total = frames + round(scenario.warmup * FPS)
    releases: list[tuple[int, int]] = []  # (frame, stage id)
    members: dict[int, list[int]] = {}
    exit_routes = [r for r in scenario.routes if r not in scenario.loops] or list(scenario.routes)
    n_groups = round(scenario.standing_groups * density) if scenario.standing_groups else 0
    if scenario.standing_groups and density > 0:
        n_groups = max(n_groups, 1)
    for _ in range(n_groups):
        x0, y0, x1, y1 = scenario.standing_areas[rng.integers(len(scenario.standing_areas))]
        c = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
        k = int(rng.integers(2, 6))
        ang0 = rng.uniform(0, 2 * math.pi)
        rad = 0.3 if k == 2 else 0.55 / (2 * math.sin(math.pi / k)) + 0.05
        angles = ang0 + 2 * math.pi * np.arange(k) / k
        pts = [tuple(c + rad * np.array([math.cos(a), math.sin(a)])) for a in angles]
        pts = [p for p in pts if geometry.buffer(-0.3).contains(shapely.Point(p))]
        if not pts:
            continue
        ws = sim.add_waiting_set_stage(pts)
        route = exit_routes[rng.integers(len(exit_routes))]
        after = stage[scenario.routes[route][0].split("|")[0]]
        jd = jps.JourneyDescription([ws, after])
        jd.set_transition_for_stage(ws, jps.Transition.create_fixed_transition(after))
        jid = sim.add_journey(jd)
        ids = []
        for p in pts:
            aid = add(p, route, journey_stage=(jid, ws))
            if aid is not None:
                ids.append(aid)
                d = c - np.asarray(p)
                initial_heading[local[aid]] = d / (np.linalg.norm(d) + 1e-9)
        members[ws] = ids
        if rng.random() < 0.5:  # half of the groups leave during the video
            releases.append((int(n_frames_total - frames * rng.uniform(0.2, 0.8)), ws))
    standing_now = {a for ids in members.values() for a in ids}

    for rect, per_m2, routes in scenario.initial:
        poly = shapely.Polygon(_rect_ring(rect)).intersection(geometry)
        n = round(per_m2 * density * poly.area)
        if n <= 0:
            continue
        try:
            pos = jps.distribute_by_number(
                polygon=poly, number_of_agents=n, distance_to_agents=0.5,
                distance_to_polygon=0.25, seed=int(rng.integers(2**31)),
            )  # fmt: skip
        except Exception:  # too many for the area: fill what fits
            pos = jps.distribute_until_filled(
                polygon=poly, distance_to_agents=0.5, distance_to_polygon=0.25,
                seed=int(rng.integers(2**31)),
            )  # fmt: skip
        for p in pos:
            add(tuple(p), routes[int(rng.integers(len(routes)))])

    spectators: list[tuple[int, np.ndarray, np.ndarray]] = []
    sid = SPECTATOR_ID0
    for (x0, y0, x1, y1), count in scenario.spectator_areas:
        n = round(count * density)
        placed: list[np.ndarray] = []
        for _ in range(20 * n):
            if len(placed) >= n:
                break
            p = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
            if all(np.linalg.norm(p - q) > 0.55 for q in placed):
                placed.append(p)
        for p in placed:
            d = -p / (np.linalg.norm(p) + 1e-9) + rng.normal(0, 0.3, 2)  # face the track centre
            spectators.append((sid, p, d / np.linalg.norm(d)))
            sid += 1

    ids_l, xy_l, std_l, offsets = [], [], [], [0]
    warm = n_frames_total - frames
    for f in range(n_frames_total):
        for when, ws in releases:
            if when == f:
                sim.get_stage(ws).state = jps.WaitingSetState.INACTIVE
                standing_now.difference_update(members[ws])
        for src in scenario.sources:
            for _ in range(rng.poisson(src.rate * density / FPS)):
                x0, y0, x1, y1 = src.rect
                add((float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))), src.route)
        sim.iterate(STEPS_PER_FRAME)
        if f < warm:
            continue
        agents = list(sim.agents())
        ids = np.array([local[a.id] for a in agents] + [s[0] for s in spectators], dtype=np.int64)
        xy = np.array([a.position for a in agents] + [tuple(s[1]) for s in spectators]).reshape(
            -1, 2
        )
        std = np.array(
            [a.id in standing_now for a in agents] + [True] * len(spectators), dtype=bool
        )
        order = np.argsort(ids, kind="stable")
        ids_l.append(ids[order]), xy_l.append(xy[order]), std_l.append(std[order])
        offsets.append(offsets[-1] + len(ids))
    for s in spectators:
        initial_heading[s[0]] = s[2]

    ids = np.concatenate(ids_l)
    xy = np.concatenate(xy_l)
    standing = np.concatenate(std_l)
    offsets_a = np.asarray(offsets, dtype=np.int64)
    heading, speed = _kinematics(ids, xy, offsets_a, initial_heading)
    return Trajectories(ids, xy, heading, speed, standing, offsets_a)


def _kinematics(
    ids: np.ndarray, xy: np.ndarray, offsets: np.ndarray, initial: dict[int, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Speed (N,) from central differences of each id's track and a smoothed unit heading (N, 2)
    that keeps its last value while a person stands (initially ``initial[id]`` or +x)."""
    frame = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    order = np.lexsort((frame, ids))
    sid, sxy = ids[order], xy[order]
    speed = np.zeros(len(ids))
    heading = np.zeros((len(ids), 2))
    if len(sid) == 0:
        return heading, speed
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    ends = np.r_[starts[1:], len(sid)]
    for a, b in zip(starts, ends, strict=True):
        p = sxy[a:b]
        v = np.gradient(p, axis=0) * FPS if b - a > 1 else np.zeros_like(p)
        s = np.linalg.norm(v, axis=1)
        h = np.asarray(initial.get(int(sid[a]), (1.0, 0.0)), dtype=np.float64)
        hs = np.empty_like(p)
        for i in range(b - a):  # exponential smoothing of the walking direction
            if s[i] > 0.15:
                h = 0.75 * h + 0.25 * v[i] / s[i]
                h /= np.linalg.norm(h) + 1e-12
            hs[i] = h
        speed[order[a:b]] = s
        heading[order[a:b]] = hs
    return heading, speed

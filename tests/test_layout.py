"""src/'s rooms and floors, read from the code: the commands and the spine loose in src/, everything else in a room
per job, and imports that only go down (a lower module never imports an upper one, whatever folder it sits in)."""
import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
ROOMS = ("search", "budget", "training", "running", "reporting", "deploy")
COMMANDS = ("AutoML", "AutoML_random_search", "main", "evaluation", "predict")
SPINE_DOWN = ("running.search_cli", "running.search_run", "EA", "search.optimizer", "member", "target", "cnn")
NEVER_IMPORT = {  # the rooms below the ones a room may not import
    "search": ("running", "reporting", "deploy"), "budget": ("search", "running", "reporting", "deploy"),
    "training": ("running", "reporting", "deploy"), "deploy": ("running", "reporting"),
    "running": ("reporting", "deploy"),
}


def modules() -> dict[str, Path]:
    return {".".join(path.relative_to(SRC).with_suffix("").parts): path for path in SRC.rglob("*.py")
            if path.name != "__init__.py"}


def imports() -> dict[str, set[str]]:
    """Each module's imports of the project's own modules (top-level and inside functions)."""
    known = modules()
    found = {}
    for name, path in known.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
        found[name] = targets & known.keys()
    return found


def below(name: str, graph: dict[str, set[str]]) -> set[str]:
    """Every module `name` imports, directly or not."""
    seen, todo = set(), list(graph[name])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += graph[module]
    return seen


def test_at_most_a_dozen_modules_loose_in_src_and_every_room_a_package():
    loose = sorted(path.stem for path in SRC.glob("*.py"))
    assert len(loose) <= 12, loose
    assert set(COMMANDS) <= set(loose) and {"EA", "member", "target", "cnn", "utils"} <= set(loose)
    assert sorted(path.name for path in SRC.iterdir() if path.is_dir() and path.name != "__pycache__") == sorted(ROOMS)
    assert all((SRC / room / "__init__.py").is_file() for room in ROOMS)


def test_the_imports_have_floors_no_module_imports_itself_through_others():
    graph = imports()
    assert [name for name in graph if name in below(name, graph)] == []


def test_no_module_imports_a_command():
    assert {name: sorted(set(COMMANDS) & targets) for name, targets in imports().items()
            if set(COMMANDS) & targets} == {}


@pytest.mark.parametrize("lower", range(1, len(SPINE_DOWN)))
def test_the_spine_imports_only_downwards(lower):
    """CLI -> driver -> optimizer -> members -> target -> CNN: nothing lower reaches anything above it."""
    graph = imports()
    assert set(SPINE_DOWN[:lower]) & below(SPINE_DOWN[lower], graph) == set()


@pytest.mark.parametrize("room", sorted(NEVER_IMPORT))
def test_a_room_never_imports_the_rooms_above_it(room):
    graph = imports()
    wrong = {name: sorted(t for t in targets if t.split(".")[0] in NEVER_IMPORT[room])
             for name, targets in graph.items() if name.split(".")[0] == room}
    assert {name: targets for name, targets in wrong.items() if targets} == {}

"""Every command line README.md shows runs as typed: each script it names answers --help, and knows every flag
the line gives it (a renamed or removed flag fails here, not in a user's terminal)."""
import re
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

SCRIPT = re.compile(r"\bpython ((?:src|bench)/\w+\.py)((?: (?:plots|front|test)\b)?)")
FLAG = re.compile(r"(?<![\w-])(--?[A-Za-z][\w]*)")


def readme_commands() -> list[tuple[str, str, str]]:
    """(script, subcommand, the whole command line) of every python command in README.md's code blocks."""
    text = (REPO_ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        lines = block.replace("\\\n", " ").splitlines()
        joined = []
        for line in lines:  # a line starting with "[" continues the usage line above it
            if joined and line.strip().startswith("["):
                joined[-1] += " " + line.strip()
            else:
                joined.append(line)
        for line in joined:
            command = line.split("  #")[0]
            found = SCRIPT.search(command)
            if found:
                commands.append((found.group(1), found.group(2).strip(), command[found.end():]))
    return commands


COMMANDS = readme_commands()
SCRIPTS: dict[tuple[str, str], str] = {}  # each script (and subcommand) once, with the arguments of all its lines
for _script, _subcommand, _arguments in COMMANDS:
    SCRIPTS[(_script, _subcommand)] = SCRIPTS.get((_script, _subcommand), "") + " " + _arguments


def test_the_readme_shows_the_scripts_a_user_runs():
    scripts = {script for script, _, _ in COMMANDS}
    assert {"src/AutoML.py", "src/main.py", "src/evaluation.py", "src/predict.py", "bench/study.py"} <= scripts


@pytest.mark.parametrize("script,subcommand,arguments", [(s, c, a) for (s, c), a in SCRIPTS.items()],
                         ids=[f"{s} {c}".strip() for s, c in SCRIPTS])
def test_every_flag_of_a_readme_command_is_known_to_its_script(script, subcommand, arguments):
    done = subprocess.run([sys.executable, script, *([subcommand] if subcommand else []), "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1000:]
    known = set(FLAG.findall(done.stdout))
    unknown = [flag for flag in FLAG.findall(arguments) if flag not in known]
    assert not unknown, f"{script} {subcommand}: README gives {unknown}, unknown to --help"

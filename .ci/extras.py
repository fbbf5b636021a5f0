"""Print the requirements of the named optional-dependency groups of
pyproject.toml, one per line (for `pip install -r /dev/stdin`), so that CI
installs the peers a test stage needs from the project's own files without
building the package once more."""
import sys

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

with open("pyproject.toml", "rb") as f:
    extras = tomllib.load(f)["project"]["optional-dependencies"]
for group in sys.argv[1:]:
    for requirement in extras[group]:
        print(requirement)

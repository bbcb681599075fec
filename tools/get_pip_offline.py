"""Stand-in for the get-pip.py bootstrap script that ansible-test downloads.

ansible-test fetches get-pip.py from a CI file host this network cannot reach.
It runs the script with pip-install arguments inside a fresh venv; we give pip
to that venv from the interpreter's bundled wheel (ensurepip) and then do the
same install from PyPI, which is reachable.
"""

import subprocess
import sys

GET_PIP_ONLY_FLAGS = {"--no-setuptools", "--no-wheel"}

# In a child process: ensurepip blanks PIP_CONFIG_FILE in its own environment,
# which would hide the machine's pip configuration (certificate, mirrors) from pip.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY_FLAGS]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))

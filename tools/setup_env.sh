#!/bin/bash
# Create the project's virtual environment from PyPI (and Debian's build tools when missing):
# ROS 2 Jazzy wheels with Fast DDS, the rosidl build chain, colcon, the runtime and training
# dependencies and the test tools.  Safe to run again: it only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

missing=()
for pkg in cmake g++ make python3-venv python3-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

stamp="$VENV/.requirements.sha256"
wanted=$(sha256sum tools/requirements.txt | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -U pip
"$VENV/bin/python" -m pip install -q -r tools/requirements.txt
tools/fix_ros_wheel_cmake.sh "$VENV"
echo "$wanted" > "$stamp"
echo "Environment ready in $VENV"

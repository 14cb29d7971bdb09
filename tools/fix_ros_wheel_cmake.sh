#!/bin/sh
# Point the ROS 2 wheels' CMake exports at this virtual environment's Python and numpy headers.
# The wheels are built on a manylinux image and their exported targets name that image's paths,
# which do not exist elsewhere; rosidl_generate_interfaces fails on them without this fix.
set -e
VENV="$1"
PYINC=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
NPINC=$("$VENV/bin/python" -c "import numpy; print(numpy.get_include())")
grep -rl '/opt/python/cp311-cp311/' "$VENV/share" --include='*.cmake' | xargs -r sed -i \
  -e "s#/opt/python/cp311-cp311/include/python3.11#$PYINC#g" \
  -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$NPINC#g"

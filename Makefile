# Two commands: `make demo` runs the demo on the bundled default, `make test` runs every test.
# Both set up the virtual environment (.venv) and build the workspace first when needed.

VENV ?= .venv
SHELL := /bin/bash
ROS_ENV = export AMENT_PREFIX_PATH=$(CURDIR)/$(VENV) CMAKE_PREFIX_PATH=$(CURDIR)/$(VENV) \
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST \
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$((RANDOM % 100 + 1))} && \
	source install/setup.bash && export PATH=$(CURDIR)/install/play_lmp_ros/lib/play_lmp_ros:$$PATH

.PHONY: setup build test demo bench scene clean

setup:
	tools/setup_env.sh

# tf2_msgs (TFMessage only, tools/pip_route) is built only where no tf2_msgs is importable, as
# on the pip-only route: a full ROS install keeps its own.
PIP_ROUTE_PATHS = $(shell $(VENV)/bin/python -c 'import tf2_msgs' 2>/dev/null || echo tools/pip_route)

build: setup
	export AMENT_PREFIX_PATH=$(CURDIR)/$(VENV) CMAKE_PREFIX_PATH=$(CURDIR)/$(VENV) \
		PATH=$(CURDIR)/$(VENV)/bin:$$PATH && colcon build --base-paths . interfaces $(PIP_ROUTE_PATHS)

test: build
	set -o pipefail && $(ROS_ENV) && colcon test --event-handlers console_direct+ && \
		colcon test-result --verbose | \
		tee /dev/stderr | awk '/^Summary: [0-9]+ tests/ { \
		  t=$$2; e=$$4; f=$$6; s=$$8; \
		  printf "tests: %d passed, %d failed, %d skipped\n", t-e-f-s, e+f, s }'

# The demo drives the simulator through named tasks with the ReachGoal action, on the bundled
# default model (the scripted skills where no bundled model exists), and writes a video.
DEMO_TASKS ?= turn_on_led,turn_off_led,open_drawer,move_slider_right
DEMO_SEED ?= 0
DEMO_BACKEND ?= $(if $(wildcard play_lmp_ros/models/default/actor.onnx),onnx,scripted)

demo: build
	$(ROS_ENV) && rollout --backend $(DEMO_BACKEND) --tasks $(DEMO_TASKS) --seed $(DEMO_SEED) \
		--video --record --out out/demo --ros-args --log-level warn

# The simulator's speed (play-lmp-sim bench, installed), then the runtime figures of the README
# (benchmarks/bench_runtime.py, run from this checkout).
bench: build
	$(ROS_ENV) && play-lmp-sim bench --steps 5000 && python -m benchmarks.bench_runtime --seconds 20

clean:
	rm -rf build install log

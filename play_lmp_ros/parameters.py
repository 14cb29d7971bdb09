"""
Define a node's parameters once, as fields of a frozen dataclass, and declare them from it.

Each field is made by parameter(): its default, its description, its range and whether it is
live all sit in the field, and declare_parameters, the README's parameter tables and the
config/<node>.yaml files (tools/node_parameter_docs.py) are all read from there.  The
dataclass's __post_init__ validates a whole set of values with the check_* helpers, so a bad
value raises ValueError naming the parameter.

Parameters are read-only unless their field says live: a live parameter changed at run time
(``ros2 param set``) is validated by the dataclass like a start-up value, refused with the
dataclass's reason when bad, and applied by the node, so that a successful set always takes
effect and a read-only one is refused by rclpy ("parameter is read-only").
"""

from dataclasses import dataclass, Field, field, fields, is_dataclass, replace
import difflib
import math
from typing import (Any, Callable, Collection, Dict, Iterable, List, Mapping, Optional, Tuple,
                    TypeVar, Union)

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.timer import Timer

Params = TypeVar('Params')
ParameterRange = Union[FloatingPointRange, IntegerRange]
# Parameters rclpy itself declares or reads on every node.
ROS_OWN_PARAMETERS = ('use_sim_time', 'start_type_description_service')
ROS_OWN_PREFIXES = ('qos_overrides.',)
# The largest ROS integer parameter: the top of an integer range given no high end.
INT64_MAX = 2 ** 63 - 1
# The key of a field's ParameterSpec in its metadata.
SPEC_KEY = 'play_lmp_ros.parameter'


@dataclass(frozen=True)
class ParameterSpec:
    """
    What a parameters dataclass field says about its ROS parameter, besides its default.

    :param description: what the parameter does, for `ros2 param describe`, the README table and
        the YAML comment (Markdown code spans in backquotes; no '|').
    :param value_range: the range rclpy enforces, or None.
    :param live: whether it may change at run time; every other parameter is read-only.
    """

    description: str
    value_range: Optional[ParameterRange] = None
    live: bool = False


def parameter(default: Any, description: str, low: Optional[float] = None,
              high: Optional[float] = None, live: bool = False) -> Any:
    """
    Make the dataclass field of one node parameter.

    :param default: the default value (a tuple for an array parameter).
    :param description: what the parameter does (see ParameterSpec).
    :param low: the lowest value rclpy accepts, or None for no range.
    :param high: the highest value; None with a low end: INT64_MAX for an integer.
    :param live: whether the parameter may change at run time (see accept_live_changes).
    :return: a dataclasses.field holding the default and, in its metadata, the ParameterSpec.
    :raises ValueError: on a range for a parameter that is no int or float, a float range
        without its high end, a high end without a low one, or a '|' in the description.
    """
    if '|' in description:
        raise ValueError(f"a parameter description must hold no '|', got {description!r}")
    value_range = None
    if low is not None:
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise ValueError(f'a range needs an int or float default, got {default!r}')
        if isinstance(default, int):
            value_range = IntegerRange(from_value=int(low),
                                       to_value=INT64_MAX if high is None else int(high), step=1)
        elif high is None:
            raise ValueError(f'a float range needs its high end (default {default!r})')
        else:
            value_range = FloatingPointRange(from_value=float(low), to_value=float(high))
    elif high is not None:
        raise ValueError(f'a range needs its low end (default {default!r})')
    return field(default=default,
                 metadata={SPEC_KEY: ParameterSpec(description, value_range, live)})


def parameter_spec(params_field: Field) -> ParameterSpec:
    """
    Return what a parameters dataclass field says about its parameter.

    :param params_field: one of dataclasses.fields(<parameters dataclass>).
    :return: its ParameterSpec.
    :raises ValueError: when the field was not made by parameter().
    """
    spec = params_field.metadata.get(SPEC_KEY)
    if not isinstance(spec, ParameterSpec):
        raise ValueError(f'field {params_field.name} is no parameter(...) field')
    return spec


def parameter_specs(params: Any) -> Dict[str, ParameterSpec]:
    """
    Return the ParameterSpec of every field of a parameters dataclass.

    :param params: the dataclass or an instance of it.
    :return: field name -> its ParameterSpec, in declaration order.
    :raises ValueError: when params is no dataclass or a field was not made by parameter().
    """
    if not is_dataclass(params):
        raise ValueError(f'expected a parameters dataclass, got {params!r}')
    return {params_field.name: parameter_spec(params_field) for params_field in fields(params)}


def live_parameters(params: Any) -> Tuple[str, ...]:
    """
    Name the parameters that may change at run time.

    :param params: the parameters dataclass or an instance of it.
    :return: the live fields' names, in declaration order.
    """
    return tuple(name for name, spec in parameter_specs(params).items() if spec.live)


def check(name: str, value: Any, ok: bool, requirement: str) -> None:
    """
    Refuse a parameter value that breaks a requirement.

    :param name: the parameter.
    :param value: its value.
    :param ok: whether the value meets the requirement.
    :param requirement: what it must do, e.g. 'be >= 1'.
    :raises ValueError: 'parameter <name> must <requirement>, got <value>' unless ok (a tuple
        shown as the list it is set as).
    """
    if not ok:
        shown = list(value) if isinstance(value, tuple) else value
        raise ValueError(f'parameter {name} must {requirement}, got {shown!r}')


def check_one_of(params: Any, name: str, choices: Collection[Any]) -> None:
    """
    Refuse a parameter that is none of its choices.

    :param params: the parameters dataclass instance.
    :param name: the field.
    :param choices: its allowed values.
    :raises ValueError: naming the parameter.
    """
    value = getattr(params, name)
    check(name, value, value in choices, f'be one of {list(choices)}')


def check_positive(params: Any, *names: str) -> None:
    """
    Refuse a parameter that is not a finite number above 0.

    :param params: the parameters dataclass instance.
    :param names: the fields to check.
    :raises ValueError: naming the first bad parameter.
    """
    for name in names:
        value = getattr(params, name)
        check(name, value, math.isfinite(value) and value > 0.0, 'be a positive number')


def check_at_least(params: Any, low: float, *names: str) -> None:
    """
    Refuse a parameter below a bound.

    :param params: the parameters dataclass instance.
    :param low: the lowest allowed value.
    :param names: the fields to check.
    :raises ValueError: naming the first bad parameter.
    """
    for name in names:
        value = getattr(params, name)
        check(name, value, value >= low, f'be >= {low}')


def unknown_parameter_error(given: Iterable[str], declared: Iterable[str]) -> Optional[str]:
    """
    Name the given parameters that the node does not declare, with the closest declared name.

    :param given: the names set from outside (command line, YAML, launch).
    :param declared: the node's own parameter names.
    :return: one line naming each unknown parameter, or None when all are known.
    """
    declared = list(declared)
    unknown = sorted(name for name in given if name not in declared
                     and name not in ROS_OWN_PARAMETERS
                     and not name.startswith(ROS_OWN_PREFIXES))
    if not unknown:
        return None
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, declared, n=1)
        parts.append(f'{name!r}' + (f' (did you mean {close[0]!r}?)' if close else ''))
    return f'unknown parameter {", ".join(parts)}; this node has {sorted(declared)}'


def declare_parameters(node: Node, defaults: Params) -> Params:
    """
    Declare one parameter per field of a parameters dataclass and read the values back once.

    Each field's ParameterSpec (see parameter) gives the descriptor: its description, its range
    and read_only unless it is live.  Tuple fields are declared as ROS arrays (lists) and read
    back as tuples.

    :param node: the node that owns the parameters.
    :param defaults: a dataclass instance whose fields were made by parameter(); its values are
        the defaults.
    :return: a new instance of the dataclass holding the values (its __post_init__ validates).
    :raises ValueError: from the dataclass, on a bad value (naming the parameter); on a
        parameter set from outside that the node does not have (a typo would otherwise be
        ignored silently); also when defaults is no dataclass or has a field that was not made
        by parameter().
    :raises rclpy.exceptions.ParameterException: on an override of the wrong type or outside
        its range.
    """
    if not is_dataclass(defaults) or isinstance(defaults, type):
        raise ValueError(f'defaults must be a dataclass instance, got {defaults!r}')
    specs = parameter_specs(defaults)
    values = {}
    for name, spec in specs.items():
        descriptor = ParameterDescriptor(description=spec.description, read_only=not spec.live)
        if isinstance(spec.value_range, FloatingPointRange):
            descriptor.floating_point_range = [spec.value_range]
        elif isinstance(spec.value_range, IntegerRange):
            descriptor.integer_range = [spec.value_range]
        default = getattr(defaults, name)
        value = node.declare_parameter(
            name, list(default) if isinstance(default, tuple) else default, descriptor).value
        values[name] = tuple(value) if isinstance(default, tuple) else value
    # rclpy keeps overrides of undeclared names without a word; its public API lists none.
    error = unknown_parameter_error(getattr(node, '_parameter_overrides', {}), specs)
    if error is not None:
        raise ValueError(error)
    return type(defaults)(**values)


def _changes(params: Params, parameters: List[Parameter]) -> dict:
    """Return the given parameters that are fields of params, as field values."""
    names = {field.name for field in fields(params)}
    return {parameter.name: (tuple(parameter.value)
                             if isinstance(getattr(params, parameter.name), tuple)
                             else parameter.value)
            for parameter in parameters if parameter.name in names}


def accept_live_changes(node: Node, current: Callable[[], Params],
                        apply: Callable[[Params], None],
                        rate_timers: Optional[Mapping[str, Optional[Timer]]] = None) -> None:
    """
    Validate run-time changes of a node's live parameters, then hand the new values to it.

    :param node: the node, its parameters declared by declare_parameters.
    :param current: returns the node's current parameters dataclass.
    :param apply: takes the new dataclass once the change is accepted (swaps it in); it runs in
        rclpy's post-set callback, after the values are stored.
    :param rate_timers: rate field (Hz) -> the timer that runs at it, retimed after apply; a
        None timer (one the node's mode does not create) is skipped.
    """
    timers = {name: timer for name, timer in (rate_timers or {}).items() if timer is not None}

    def validate(parameters: List[Parameter]) -> SetParametersResult:
        try:
            replace(current(), **_changes(current(), parameters))
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)

    def commit(parameters: List[Parameter]) -> None:
        params = replace(current(), **_changes(current(), parameters))
        apply(params)
        for name, timer in timers.items():
            timer.timer_period_ns = _period_ns(getattr(params, name))
        node.get_logger().info(f'parameters now {params}')

    node.add_on_set_parameters_callback(validate)
    node.add_post_set_parameters_callback(commit)


def _period_ns(rate_hz: float) -> int:
    """
    Return a timer period for a rate.

    :param rate_hz: the rate (Hz, > 0).
    :return: 1 / rate_hz in nanoseconds, for rclpy's Timer.timer_period_ns.
    """
    return int(round(1e9 / rate_hz))

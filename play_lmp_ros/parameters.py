"""
Declare a node's parameters from a dataclass of defaults and read them back into it.

Parameters are read-only unless a node names them live: a live parameter changed at run time
(``ros2 param set``) is validated by the dataclass like a start-up value, refused with the
dataclass's reason when bad, and applied by the node, so that a successful set always takes
effect and a read-only one is refused by rclpy ("parameter is read-only").
"""

from dataclasses import fields, is_dataclass, replace
import difflib
from typing import Callable, Iterable, List, Mapping, Optional, TypeVar, Union

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


def declare_parameters(node: Node, defaults: Params, descriptions: Mapping[str, str],
                       ranges: Optional[Mapping[str, ParameterRange]] = None,
                       live: Iterable[str] = ()) -> Params:
    """
    Declare one parameter per field of a parameters dataclass and read the values back once.

    Tuple fields are declared as ROS arrays (lists) and read back as tuples.

    :param node: the node that owns the parameters.
    :param defaults: a dataclass instance; its fields give the names and the default values.
    :param descriptions: field name -> description, for every field, in declaration order.
    :param ranges: field name -> allowed range, for the fields that have one.
    :param live: the fields that may change at run time (see accept_live_changes); every
        other one is declared read-only.
    :return: a new instance of the dataclass holding the values (its __post_init__ validates).
    :raises ValueError: from the dataclass, on a bad value (naming the parameter); on a
        parameter set from outside that the node does not have (a typo would otherwise be
        ignored silently); also when defaults is no dataclass or descriptions do not name
        exactly its fields.
    :raises rclpy.exceptions.ParameterException: on an override of the wrong type or outside
        its range.
    """
    if not is_dataclass(defaults):
        raise ValueError(f'defaults must be a dataclass instance, got {type(defaults).__name__}')
    names = sorted(field.name for field in fields(defaults))
    if sorted(descriptions) != names:
        raise ValueError(f'descriptions {sorted(descriptions)} must name the fields {names}')
    ranges = ranges or {}
    live = set(live)
    if not live <= set(names):
        raise ValueError(f'live parameters {sorted(live - set(names))} are not fields {names}')
    values = {}
    for name, description in descriptions.items():
        descriptor = ParameterDescriptor(description=description, read_only=name not in live)
        value_range = ranges.get(name)
        if isinstance(value_range, FloatingPointRange):
            descriptor.floating_point_range = [value_range]
        elif isinstance(value_range, IntegerRange):
            descriptor.integer_range = [value_range]
        default = getattr(defaults, name)
        value = node.declare_parameter(
            name, list(default) if isinstance(default, tuple) else default, descriptor).value
        values[name] = tuple(value) if isinstance(default, tuple) else value
    # rclpy keeps overrides of undeclared names without a word; its public API lists none.
    error = unknown_parameter_error(getattr(node, '_parameter_overrides', {}), names)
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

"""Declare a node's parameters from a dataclass of defaults and read them back into it."""

from dataclasses import fields, is_dataclass
import difflib
from typing import Iterable, Mapping, Optional, TypeVar, Union

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

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
                       read_only: bool = True) -> Params:
    """
    Declare one parameter per field of a parameters dataclass and read the values back once.

    Tuple fields are declared as ROS arrays (lists) and read back as tuples.

    :param node: the node that owns the parameters.
    :param defaults: a dataclass instance; its fields give the names and the default values.
    :param descriptions: field name -> description, for every field, in declaration order.
    :param ranges: field name -> allowed range, for the fields that have one.
    :param read_only: declare the parameters read-only.
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
    values = {}
    for name, description in descriptions.items():
        descriptor = ParameterDescriptor(description=description, read_only=read_only)
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

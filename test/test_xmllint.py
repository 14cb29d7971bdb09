"""Check both package manifests: well-formed XML with the essentials of package format 3."""

from pathlib import Path
import re
from typing import List
import xml.etree.ElementTree as ET

from catkin_pkg.package import parse_package
import pytest

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = {'play_lmp_ros': REPO / 'package.xml',
             'play_lmp_interfaces': REPO / 'interfaces' / 'package.xml'}
SCHEMA = 'http://download.ros.org/schema/package_format3.xsd'
DEPENDS = ('depend', 'build_depend', 'build_export_depend', 'buildtool_depend',
           'buildtool_export_depend', 'exec_depend', 'test_depend', 'doc_depend',
           'group_depend', 'member_of_group', 'conflict', 'replace')
# The children package format 3 allows under <package>.
CHILDREN = {'name', 'version', 'description', 'maintainer', 'license', 'url', 'author',
            'export', *DEPENDS}
# A package name, and a dependency key (a package name, or a rosdep key such as python3-yaml).
NAME = re.compile(r'[a-z][a-z0-9_]*')
KEY = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.+-]*')
VERSION = re.compile(r'(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)')
EMAIL = re.compile(r'[^@\s]+@[^@\s]+\.[^@\s]+')


def texts(root: ET.Element, tag: str) -> List[str]:
    """
    Return the stripped texts of the children with a tag.

    :param root: the <package> element.
    :param tag: the child tag.
    :return: their texts, in order ('' for an empty one).
    """
    return [(child.text or '').strip() for child in root.findall(tag)]


@pytest.mark.linter
@pytest.mark.parametrize('name', sorted(MANIFESTS))
def test_manifest_has_the_format_3_essentials(name):
    """Name, version, description first; maintainers with e-mail, licence, well-formed depends."""
    path = MANIFESTS[name]
    instructions = [element.text for event, element in ET.iterparse(path, events=('pi',))]
    assert any(SCHEMA in text for text in instructions), 'no xml-model for package_format3.xsd'
    root = ET.parse(path).getroot()
    assert root.tag == 'package' and root.get('format') == '3'
    children = [child.tag for child in root]
    assert set(children) <= CHILDREN, set(children) - CHILDREN
    assert children[:3] == ['name', 'version', 'description']
    assert texts(root, 'name') == [name] and NAME.fullmatch(name)
    assert len(texts(root, 'version')) == 1 and VERSION.fullmatch(texts(root, 'version')[0])
    assert len(texts(root, 'description')) == 1 and texts(root, 'description')[0]
    maintainers = root.findall('maintainer')
    assert maintainers, 'no maintainer'
    for maintainer in maintainers:
        assert (maintainer.text or '').strip(), 'a maintainer without a name'
        assert EMAIL.fullmatch(maintainer.get('email', '')), maintainer.get('email')
    assert texts(root, 'license') and all(texts(root, 'license'))
    declared = {}
    for tag in DEPENDS:
        for key in texts(root, tag):
            assert KEY.fullmatch(key), f'<{tag}>{key}</{tag}>'
            assert key not in declared.get(tag, ()), f'{key} twice as <{tag}>'
            declared.setdefault(tag, set()).add(key)
    # <depend> already means build, build_export and exec; saying one of them again is a slip.
    for tag in ('build_depend', 'build_export_depend', 'exec_depend'):
        assert not declared.get('depend', set()) & declared.get(tag, set()), tag
    assert len(root.findall('export/build_type')) == 1


@pytest.mark.linter
@pytest.mark.parametrize('name', sorted(MANIFESTS))
def test_catkin_pkg_reads_the_manifest_without_warnings(name):
    """The parser rosdep and colcon use validates the manifest and has nothing to warn about."""
    warnings: List[str] = []
    package = parse_package(str(MANIFESTS[name]), warnings=warnings)
    assert (package.name, package.package_format) == (name, 3)
    assert warnings == []

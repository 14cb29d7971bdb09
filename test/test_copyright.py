"""The licence: the Apache License 2.0 text at the root, the one every manifest declares."""

import ast
from pathlib import Path
import xml.etree.ElementTree as ET

import pytest

REPO = Path(__file__).resolve().parents[1]
LICENSE_ID = 'Apache-2.0'
MANIFESTS = (REPO / 'package.xml', REPO / 'interfaces' / 'package.xml')


@pytest.mark.linter
def test_license_file_is_the_apache_2_text():
    """LICENSE holds the full Apache License 2.0: its heading, its nine sections, its end."""
    text = (REPO / 'LICENSE').read_text()
    words = ' '.join(text.split())
    assert words.startswith('Apache License Version 2.0, January 2004 '
                            'http://www.apache.org/licenses/ TERMS AND CONDITIONS')
    for number, section in enumerate(
            ('Definitions', 'Grant of Copyright License', 'Grant of Patent License',
             'Redistribution', 'Submission of Contributions', 'Trademarks',
             'Disclaimer of Warranty', 'Limitation of Liability',
             'Accepting Warranty or Additional Liability'), start=1):
        assert f'{number}. {section}.' in words, section
    assert 'END OF TERMS AND CONDITIONS' in words


@pytest.mark.linter
@pytest.mark.parametrize('path', MANIFESTS, ids=lambda path: str(path.relative_to(REPO)))
def test_manifests_declare_the_license_of_the_file(path):
    """Each package.xml names Apache-2.0, and only it."""
    root = ET.parse(path).getroot()
    assert [(element.text or '').strip() for element in root.findall('license')] == [LICENSE_ID]


@pytest.mark.linter
def test_setup_py_declares_the_same_license():
    """setup.py's license keyword (the Python metadata) matches package.xml."""
    tree = ast.parse((REPO / 'setup.py').read_text())
    licenses = [keyword.value.value for node in ast.walk(tree) if isinstance(node, ast.Call)
                for keyword in node.keywords if keyword.arg == 'license'
                and isinstance(keyword.value, ast.Constant)]
    assert licenses == [LICENSE_ID]

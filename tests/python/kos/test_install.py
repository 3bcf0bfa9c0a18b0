"""`cmake --install --component python` gives a package that a venv with system
site packages imports (the route docs/python.md describes)."""

import os
import subprocess
import sys
import venv

import pytest

BUILD_DIR = os.environ.get("KOS_BUILD_DIR")


@pytest.mark.skipif(not BUILD_DIR, reason="KOS_BUILD_DIR is not set (ctest sets it)")
def test_installed_package_imports_in_a_venv(tmp_path):
    prefix = tmp_path / "prefix"
    subprocess.run(["cmake", "--install", BUILD_DIR, "--component", "python",
                    "--prefix", str(prefix)], check=True, capture_output=True)
    pkg = prefix / os.environ.get("KOS_PYTHON_INSTALL_DIR", "lib/python3/dist-packages") / "kos"
    names = {p.name for p in pkg.iterdir()}
    assert {"__init__.py", "_core.pyi", "py.typed"} <= names
    assert any(n.startswith("_core") and n.endswith(".so") for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    (site / "kos-prefix.pth").write_text(str(pkg.parent) + "\n")
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c",
         "import kos, numpy; s = kos.Store(); s.put('c', 'k', b'v'); "
         "print(kos.__file__, s.get('c', 'k').value)"],
        check=True, capture_output=True, text=True, env=clean_env, cwd=tmp_path)
    assert str(pkg) in out.stdout and "b'v'" in out.stdout

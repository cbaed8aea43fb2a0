"""Package discovery: the folders envs/, agents/, meta/ install as jaxrl.envs,
jaxrl.agents, jaxrl.meta. Subpackages are found automatically, so a new folder
with an ``__init__.py`` lands in the wheel without editing this file."""

from setuptools import find_packages, setup

ROOTS = {"jaxrl": "jaxrl", "jaxrl.envs": "envs", "jaxrl.agents": "agents", "jaxrl.meta": "meta"}

packages, package_dir = [], {}
for name, folder in ROOTS.items():
    package_dir[name] = folder
    packages.append(name)
    for sub in find_packages(folder):
        packages.append(f"{name}.{sub}")
        package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)

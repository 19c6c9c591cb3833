# nbdev 2's template setup.py, adapted: the template's `pkg_resources` import fails under current setuptools,
# so requirement checks use `packaging` instead. Everything is read from settings.ini.
from configparser import ConfigParser
import setuptools, shlex
from packaging.version import Version

assert Version(setuptools.__version__) >= Version("36.2")

config = ConfigParser(delimiters=["="])
config.read("settings.ini", encoding="utf-8")
cfg = config["DEFAULT"]

cfg_keys = "version description keywords author author_email".split()
expected = cfg_keys + "lib_name user branch license status min_python audience language".split()
for o in expected: assert o in cfg, f"missing expected setting: {o}"
setup_cfg = {o: cfg[o] for o in cfg_keys}

licenses = {"apache2": ("Apache Software License 2.0", "OSI Approved :: Apache Software License"),
            "mit": ("MIT License", "OSI Approved :: MIT License")}
statuses = ["1 - Planning", "2 - Pre-Alpha", "3 - Alpha", "4 - Beta", "5 - Production/Stable", "6 - Mature", "7 - Inactive"]
py_versions = "3.11 3.12 3.13".split()

requirements = shlex.split(cfg.get("requirements", ""))
dev_requirements = shlex.split(cfg.get("dev_requirements", ""))
backend_extras = {k: shlex.split(cfg.get(f"{k}_requirements", "")) for k in ("cpu", "gpu", "lab")}
lic = licenses.get(cfg["license"].lower(), (cfg["license"], None))
min_python = cfg["min_python"]
console_scripts = cfg.get("console_scripts", "").split()

setuptools.setup(
    name=cfg["lib_name"],
    license=lic[0],
    classifiers=["Development Status :: " + statuses[int(cfg["status"])],
                 "Intended Audience :: " + cfg["audience"].title(),
                 "Natural Language :: " + cfg["language"].title()]
    + ["Programming Language :: Python :: " + o for o in py_versions[py_versions.index(min_python):]]
    + (["License :: " + lic[1]] if lic[1] else []),
    url=cfg["git_url"],
    packages=setuptools.find_packages(include=[cfg["lib_name"], cfg["lib_name"] + ".*"]),
    include_package_data=True,
    install_requires=requirements,
    extras_require={"dev": dev_requirements, **backend_extras},
    dependency_links=cfg.get("dep_links", "").split(),
    python_requires=">=" + min_python,
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    zip_safe=False,
    entry_points={"console_scripts": console_scripts, "nbdev": [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d']},
    **setup_cfg)

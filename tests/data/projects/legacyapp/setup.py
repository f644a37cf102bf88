from setuptools import setup

setup(
    name="legacyapp",
    version="2.0.1",
    packages=["legacyapp"],
    install_requires=["attrs", "typing_extensions; python_version < '3.8'"],
)

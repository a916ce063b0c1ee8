"""Install tfp_nrg: `pip install -e .`, with extras `[plot]`, `[docs]`, `[test]`."""

import setuptools

REQUIRED = [
    'tensorflow>=2.18,<2.22',
    # The [tf] extra brings tf-keras, which TFP 0.25 needs for tfp.distributions.
    'tensorflow-probability[tf]>=0.25,<0.26',
    'numpy>=1.26',
    'absl-py>=2.0',
    # tf.summary's implementation; TensorFlow no longer installs it.
    'tensorboard>=2.18,<2.22',
]

DOCS = ['pdoc>=14.0,<16']

EXTRAS = {
    'plot': ['matplotlib>=3.8'],
    # The API reference, generated from the docstrings.
    'docs': DOCS,
    # The examples' end-to-end tests draw their pictures; a test builds the
    # API reference. The suite runs on every core (pytest-xdist): most of its
    # time is single-threaded, processes starting and XLA compiling.
    'test': ['pytest>=8.0', 'pytest-xdist>=3.5', 'matplotlib>=3.8'] + DOCS,
}

setuptools.setup(
    name='tfp_nrg',
    version='0.1.0',
    description=('Neural Network Renormalization Group (NeuralRG) for '
                 'TensorFlow Probability.'),
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    license='Apache 2.0',
    packages=setuptools.find_packages(include=['tfp_nrg', 'tfp_nrg.*']),
    python_requires='>=3.11',
    install_requires=REQUIRED,
    extras_require=EXTRAS,
    classifiers=[
        'Programming Language :: Python :: 3.11',
        'Topic :: Scientific/Engineering :: Physics',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)

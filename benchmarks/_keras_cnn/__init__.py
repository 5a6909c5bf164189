"""skmnist's default ConvNet written directly in Keras, for ``bench_fit.py``'s
``keras-cnn`` contender: the same layers trained by Keras's ``model.fit``."""

"""
datadings_like: turn machine-learning datasets into msgpack files
(the datadings 3.x format) and read them back fast.
"""
__version__ = '0.1.0'

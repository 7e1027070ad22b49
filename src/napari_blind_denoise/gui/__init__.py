"""The napari layer: dock widgets that gather choices, start workers and show results.

This is the only package that imports napari, qtpy, superqt or magicgui.
"""

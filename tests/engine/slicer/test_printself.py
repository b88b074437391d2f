"""PrintSelf parsing contract: the WebServer module's rules, so `/mrml/properties` has the shape clients
read (slicerio: `properties["Segmentation"]["Segments"][id]["Name"]`)."""

from __future__ import annotations

from slicerweb.engine.slicer.printself import parse_print_self, parse_value

SEGMENTATION = """vtkMRMLSegmentationNode (0x55d0c3a0)
  ID: vtkMRMLSegmentationNode1
  Name: Segmentation
  Description: (none)
  HideFromEditors: false
  Selectable: true
  Segmentation:
    SourceRepresentationName: Binary labelmap
    Segments:
      Segment_1:
        Name: liver
        Color: (0.9, 0.4, 0.3)
        Tags: 1
      Segment_2:
        Name: tumor
        Color: (1, 1, 0)
  Extent: 0 9 0 9 0 4
"""


def test_segmentation_shape():
    props = parse_print_self(SEGMENTATION)
    assert props["ID"] == "vtkMRMLSegmentationNode1"
    assert "Description" not in props  # (none) is left out
    assert props["HideFromEditors"] is False and props["Selectable"] is True
    segments = props["Segmentation"]["Segments"]
    assert segments["Segment_1"] == {"Name": "liver", "Color": [0.9, 0.4, 0.3], "Tags": 1}
    assert segments["Segment_2"]["Color"] == [1, 1, 0]
    assert props["Segmentation"]["SourceRepresentationName"] == "Binary labelmap"
    assert props["Extent"] == [0, 9, 0, 9, 0, 4]


def test_values():
    assert parse_value("on") is True and parse_value("off") is False
    assert parse_value("[1 2 3]") == [1, 2, 3]
    assert parse_value("(1.5, 2)") == [1.5, 2.0]
    assert parse_value("1, 2") == [1, 2]
    assert parse_value("2.5") == 2.5 and parse_value("7") == 7
    assert parse_value("left-posterior-superior") == "left-posterior-superior"

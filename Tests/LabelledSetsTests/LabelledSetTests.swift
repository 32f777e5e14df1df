import DefectDetection
import Foundation
import ImageIO
import ImageNumerics
import LabelledSets
import Testing

/// A scratch folder holding a labelled set written file by file.
struct ScratchSet {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("scopepilot-set-\(UUID().uuidString)")

    init() throws { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: folder.appendingPathComponent(name))
    }

    func write(_ name: String, _ image: Image) throws {
        try NumpyFile.write(image, as: .float32, to: folder.appendingPathComponent(name))
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }

    /// `set.json` with the abTEM sets' regions.
    func header() throws {
        try write(
            "set.json",
            #"{"format": "scopepilot-labelled-set", "version": 1, "description": "test", "regions": ["pristine", "hole", "contamination"], "lattice_like": ["pristine", "contamination"]}"#
        )
    }
}

@Suite("Labelled sets: folders of images with what is really in them")
struct LabelledSetTests {
    @Test("frames are read with their channels in order, pixel size, dose, defects and region map")
    func reads() throws {
        let set = try ScratchSet()
        defer { set.remove() }
        try set.header()
        try set.write("a-MAADF.npy", Image(width: 4, height: 3, value: 2))
        try set.write("a-HAADF.npy", Image(width: 4, height: 3, value: 1))
        try set.write("a-regions.npy", Image(width: 4, height: 3, pixels: [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 2, 2]))
        try set.write(
            "a.json",
            #"{"channels": [{"name": "MAADF", "file": "a-MAADF.npy"}, {"name": "HAADF", "file": "a-HAADF.npy"}], "pixel_size_angstrom": 0.2, "dose_e_per_angstrom2": 10000, "probe": "in-focus", "defects": [{"type": "Se1", "x": 1.5, "y": 2}, {"type": "W", "x": 3, "y": 0.25}], "regions": "a-regions.npy"}"#
        )
        try set.write("b-HAADF.npy", Image(width: 4, height: 3, value: 1))
        try set.write(
            "b.json", #"{"channels": [{"name": "HAADF", "file": "b-HAADF.npy"}], "pixel_size_angstrom": 0.3}"#)
        let loaded = try LabelledSet.load(set.folder)
        #expect(loaded.frames.map(\.name) == ["a", "b"])
        #expect(loaded.regions == ["pristine", "hole", "contamination"] && loaded.latticeLike.count == 2)
        let a = loaded.frames[0]
        #expect(a.channels.map(\.name) == ["MAADF", "HAADF"])
        #expect(a.detectorChannel.name == "HAADF")
        #expect(try a.image(a.detectorChannel).pixels.allSatisfy { $0 == 1 })
        #expect(a.pixelSize == 0.2 && a.dose == 10_000 && a.probe == "in-focus")
        #expect(a.defects == [.init(kind: .se1, x: 1.5, y: 2), .init(kind: .w, x: 3, y: 0.25)])
        #expect(try a.regionMap(width: 4, height: 3, regions: 3) == [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 2, 2])
        let b = loaded.frames[1]
        #expect(b.defects == nil && b.regionFile == nil && b.dose == nil)
        #expect(try b.regionMap(width: 4, height: 3, regions: 3) == nil)
        // Groups by dose, lowest first; frames without a dose last.
        #expect(loaded.doseGroups.map(\.dose) == [10_000, nil])
    }

    @Test(
        "a broken set is refused with the file and what to fix",
        arguments: [
            (#"{"channels": [], "pixel_size_angstrom": 0.2}"#, "names no channels"),
            (#"{"channels": [{"name": "HAADF", "file": "x.npy"}]}"#, "missing \"pixel_size_angstrom\""),
            (#"{"channels": [{"name": "HAADF", "file": "x.npy"}], "pixel_size_angstrom": -1}"#, "positive number of Å"),
            (
                #"{"channels": [{"name": "HAADF", "file": "gone.npy"}], "pixel_size_angstrom": 0.2}"#,
                "not in the folder"
            ),
            (
                #"{"channels": [{"name": "HAADF", "file": "x.npy"}], "pixel_size_angstrom": 0.2, "defects": [{"type": "Mo", "x": 1, "y": 1}]}"#,
                "'Mo' is not one of Se1, Se2, W"
            ),
            (
                #"{"channels": [{"name": "HAADF", "file": "x.npy"}], "pixel_size_angstrom": "0.2"}"#,
                "pixel_size_angstrom"
            ),
            (#"{"channels": [{"name": "HAADF", "file": "x.npy"}], "#, "not valid JSON"),
            (
                #"{"channels": [{"name": "HAADF", "file": "x.npy"}, {"name": "HAADF", "file": "x.npy"}], "pixel_size_angstrom": 0.2}"#,
                "channel names repeat"
            ),
        ])
    func refuses(frame: String, problem: String) throws {
        let set = try ScratchSet()
        defer { set.remove() }
        try set.header()
        try set.write("x.npy", Image(width: 4, height: 3, value: 1))
        try set.write("x.json", frame)
        #expect {
            try LabelledSet.load(set.folder)
        } throws: { error in
            let error = error as? LabelledSetError
            return error?.problem.contains(problem) == true && error?.path.hasSuffix("x.json") == true
        }
    }

    @Test("an image file's own calibration must agree with its frame's pixel size")
    func calibrationAgrees() throws {
        let set = try ScratchSet()
        defer { set.remove() }
        try set.header()
        // Written by tifffile with resolution tags in pixels per cm: 0.25 Å per pixel.
        let tiff = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/formats/tifffile-resolution-cm.tif")
        try FileManager.default.copyItem(at: tiff, to: set.folder.appendingPathComponent("a-HAADF.tif"))
        for (size, accepted) in [(0.25, true), (0.252, true), (0.3, false)] {
            try set.write(
                "a.json", #"{"channels": [{"name": "HAADF", "file": "a-HAADF.tif"}], "pixel_size_angstrom": \#(size)}"#)
            let frame = try #require(try LabelledSet.load(set.folder).frames.first)
            if accepted {
                #expect(try frame.image(frame.detectorChannel).width == 32, "\(size)")
            } else {
                #expect {
                    try frame.image(frame.detectorChannel)
                } throws: { error in
                    "\(error)".contains("TIFF resolution tags gives 0.25") && "\(error)".contains("is 0.3")
                }
            }
        }
    }

    @Test("region maps that do not fit the frame or name no region are refused")
    func refusesRegionMaps() throws {
        let set = try ScratchSet()
        defer { set.remove() }
        try set.write("x.npy", Image(width: 4, height: 3, value: 1))
        try set.write("r.npy", Image(width: 4, height: 3, pixels: [0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0.5]))
        let frame =
            #"{"channels": [{"name": "HAADF", "file": "x.npy"}], "pixel_size_angstrom": 0.2, "regions": "r.npy"}"#
        try set.write("x.json", frame)
        // Without set.json, nothing says what the indices mean.
        #expect(throws: LabelledSetError.self) { try LabelledSet.load(set.folder) }
        try set.header()
        let loaded = try LabelledSet.load(set.folder).frames[0]
        #expect {
            try loaded.regionMap(width: 4, height: 3, regions: 3)
        } throws: { error in
            (error as? LabelledSetError)?.problem.contains("pixel 3, 1 holds 5.0, not a region index 0 ... 2") == true
        }
        #expect {
            try loaded.regionMap(width: 5, height: 3, regions: 3)
        } throws: { error in
            (error as? LabelledSetError)?.problem.contains("the region map is 4 x 3 px but the frame is 5 x 3") == true
        }
    }

    @Test("a folder without frames, a missing folder, an unknown lattice-like name, a newer format")
    func refusesFolders() throws {
        let set = try ScratchSet()
        defer { set.remove() }
        #expect(throws: LabelledSetError.self) { try LabelledSet.load(set.folder) }
        #expect(throws: LabelledSetError.self) {
            try LabelledSet.load(set.folder.appendingPathComponent("nowhere"))
        }
        try set.write("set.json", #"{"regions": ["pristine"], "lattice_like": ["lattice"]}"#)
        #expect {
            try LabelledSet.load(set.folder)
        } throws: { error in
            (error as? LabelledSetError)?.problem.contains("'lattice'") == true
        }
        try set.write("set.json", #"{"version": 9}"#)
        #expect {
            try LabelledSet.load(set.folder)
        } throws: { error in
            (error as? LabelledSetError)?.problem.contains("format version 9") == true
        }
    }
}

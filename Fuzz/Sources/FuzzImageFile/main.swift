import CLibFuzzer
import FuzzEntryPoints

/// The executable's entry point (SwiftPM links `main` to `FuzzImageFile_main`): hands the arguments to
/// libFuzzer's driver, which calls back once per input.
@_cdecl("FuzzImageFile_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { FuzzTarget.imageFile.fuzz($0, $1) }
}

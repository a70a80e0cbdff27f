// libFuzzer target for the 9P2000.L wire decoder (NinePServer/Wire). Run it with
// `scripts/fuzz-9p [SECONDS]`, which explains how it is built.
//
// One input is a control byte followed by a byte stream, as a client would send it:
//
// - the stream goes through two FrameSplitters, one fed in chunks whose sizes come from the
//   control byte and one fed all at once (each lowering its msize after a Tversion, as the
//   socket transport does); both must yield the same frames and the same error, and the
//   frames must be the stream's bytes in order;
// - every frame (and the whole stream as one frame) is decoded as a request and as a reply
//   at three msizes (the frame's own length, 4096, 1 MiB); a decode that succeeds at one
//   msize must succeed identically at every larger one, re-encode to exactly the input
//   bytes, and decode again to the same value;
// - decoded Tversions go through version negotiation, Rreaddir payloads through
//   DirectoryEntry.unpack/pack, and every error through its description and errno.
//
// Thrown errors are expected; a trap (fatalError below, or one in the library), an
// ASan report, a hang or an allocation far beyond the input's size is a bug.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NinePServer

// MARK: - The property checks

/// The msizes every frame is decoded at, besides its own length.
let fixedMsizes: [UInt32] = [4096, 1 << 20]

/// Runs one fuzz input through every check; traps on a violated property.
func fuzzOne(_ input: [UInt8]) {
    let control = input.first ?? 0
    let stream = Array(input.dropFirst())

    // Bits 0-5: base chunk size 1...64; bit 6: vary it per chunk; bit 7: splitter msize.
    let base = Int(control & 0x3F) + 1
    let vary = control & 0x40 != 0
    let splitterMsize: UInt32 = control & 0x80 != 0 ? 4096 : 1 << 20
    let chunked = split(stream, msize: splitterMsize) { index in
        vary ? (index &* 7 &+ base) % 97 + 1 : base
    }
    let whole = split(stream, msize: splitterMsize) { _ in stream.count }
    check(chunked.frames == whole.frames && chunked.error == whole.error, stream,
          "chunked splitter (\(chunked.frames.count) frames, \(String(describing: chunked.error))) disagrees with one append (\(whole.frames.count) frames, \(String(describing: whole.error)))")
    if let error = chunked.error { exercise(error) }

    var consumed = 0
    for frame in chunked.frames {
        check(frame.count >= NineP.headerSize && frame.count <= Int(splitterMsize), frame, "splitter yielded a frame of \(frame.count) bytes")
        check(littleEndian32(frame) == UInt32(frame.count), frame, "splitter frame's size field disagrees with its length")
        check(stream[consumed..<consumed + frame.count].elementsEqual(frame), frame, "splitter frame is not the next run of the stream")
        consumed += frame.count
        decodeAll(frame)
    }
    if chunked.error == nil {
        check(consumed + chunked.leftover == stream.count, stream, "splitter lost bytes: \(consumed) in frames + \(chunked.leftover) buffered != \(stream.count)")
    }
    // The whole stream as one frame, for frames the splitter refused or never completed.
    if chunked.frames.count != 1 || consumed != stream.count { decodeAll(stream) }
}

/// What a splitter made of a stream.
struct SplitResult {
    var frames: [[UInt8]] = []
    var error: NinePWireError?
    var leftover = 0
}

/// Feeds `stream` to a FrameSplitter in chunks of `chunkSize(index)` bytes, draining after each
/// and applying negotiated msizes as the transport does.
func split(_ stream: [UInt8], msize: UInt32, chunkSize: (Int) -> Int) -> SplitResult {
    var splitter = FrameSplitter(msize: msize)
    var result = SplitResult()
    var offset = 0
    var index = 0
    while offset < stream.count {
        let end = min(stream.count, offset + max(1, chunkSize(index)))
        splitter.append(stream[offset..<end])
        offset = end
        index += 1
        do {
            while let frame = try splitter.nextFrame() {
                result.frames.append(frame)
                // As the socket transport does: a successful Tversion lowers the splitter's msize.
                if case let .version(clientMsize, version)? = try? NineP.decodeRequest(frame, msize: splitter.msize).message,
                   let negotiated = try? NineP.negotiateVersion(clientMsize: clientMsize, clientVersion: version, ceiling: msize),
                   negotiated.version == NineP.version9P2000L {
                    splitter.msize = negotiated.msize
                }
            }
        } catch {
            result.error = error
            return result
        }
    }
    result.leftover = splitter.bufferedCount
    return result
}

/// Decodes `frame` as a request and as a reply at ascending msizes and checks the results.
func decodeAll(_ frame: [UInt8]) {
    let msizes = ([UInt32(clamping: frame.count)] + fixedMsizes).sorted()

    var firstRequest: (msize: UInt32, tag: UInt16, message: TMessage)?
    for msize in msizes {
        do {
            let (tag, message) = try NineP.decodeRequest(frame, msize: msize)
            if let first = firstRequest {
                check(first.tag == tag && first.message == message, frame, "request decodes differently at msize \(first.msize) and \(msize)")
            }
            firstRequest = firstRequest ?? (msize, tag, message)
            checkRequestRoundTrip(frame, tag: tag, message: message, msize: msize)
        } catch {
            exercise(error)
            if let first = firstRequest {
                fatalError("request decoded at msize \(first.msize) but not at larger \(msize) (\(error)): \(hex(frame))")
            }
        }
    }

    var firstReply: (msize: UInt32, tag: UInt16, message: RMessage)?
    for msize in msizes {
        do {
            let (tag, message) = try NineP.decodeReply(frame, msize: msize)
            if let first = firstReply {
                check(first.tag == tag && first.message == message, frame, "reply decodes differently at msize \(first.msize) and \(msize)")
            }
            firstReply = firstReply ?? (msize, tag, message)
            checkReplyRoundTrip(frame, tag: tag, message: message, msize: msize)
        } catch {
            exercise(error)
            if let first = firstReply {
                fatalError("reply decoded at msize \(first.msize) but not at larger \(msize) (\(error)): \(hex(frame))")
            }
        }
    }

    if firstRequest != nil || firstReply != nil {
        do {
            let header = try FrameHeader(validating: frame, msize: .max)
            check(header.size == UInt32(frame.count), frame, "header size \(header.size) for a \(frame.count)-byte frame")
            check(header.tag == (firstRequest?.tag ?? firstReply?.tag), frame, "header tag differs from the decoded tag")
        } catch {
            fatalError("decoded frame fails header validation (\(error)): \(hex(frame))")
        }
    }
}

func checkRequestRoundTrip(_ frame: [UInt8], tag: UInt16, message: TMessage, msize: UInt32) {
    let encoded: [UInt8]
    do {
        encoded = try NineP.encodeRequest(tag: tag, message, maxSize: msize)
    } catch {
        fatalError("decoded request \(message) does not re-encode at maxSize \(msize) (\(error)): \(hex(frame))")
    }
    check(encoded == frame, frame, "request \(message) re-encodes as \(hex(encoded))")
    do {
        let again = try NineP.decodeRequest(encoded, msize: msize)
        check(again.tag == tag && again.message == message, frame, "re-encoded request decodes as \(again.message)")
    } catch {
        fatalError("re-encoded request fails to decode (\(error)): \(hex(frame))")
    }
    if case let .version(clientMsize, clientVersion) = message {
        for ceiling in [0, msize] { checkNegotiation(clientMsize, clientVersion, ceiling) }
    }
}

func checkReplyRoundTrip(_ frame: [UInt8], tag: UInt16, message: RMessage, msize: UInt32) {
    let encoded: [UInt8]
    do {
        encoded = try NineP.encodeReply(tag: tag, message, maxSize: msize)
    } catch {
        fatalError("decoded reply \(message) does not re-encode at maxSize \(msize) (\(error)): \(hex(frame))")
    }
    check(encoded == frame, frame, "reply \(message) re-encodes as \(hex(encoded))")
    do {
        let again = try NineP.decodeReply(encoded, msize: msize)
        check(again.tag == tag && again.message == message, frame, "re-encoded reply decodes as \(again.message)")
    } catch {
        fatalError("re-encoded reply fails to decode (\(error)): \(hex(frame))")
    }
    if case let .readdir(data) = message {
        do {
            let entries = try DirectoryEntry.unpack(data)
            let packed = try DirectoryEntry.pack(entries, limit: data.count)
            check(packed.packed == entries.count && packed.data == data, frame, "Rreaddir payload does not repack to itself")
        } catch {
            exercise(error)
        }
    }
}

/// Version negotiation is a pure function; check the promises its documentation makes.
func checkNegotiation(_ clientMsize: UInt32, _ clientVersion: String, _ ceiling: UInt32) {
    let understood = clientVersion == NineP.version9P2000L || clientVersion.hasPrefix(NineP.version9P2000L + ".")
    do {
        let (msize, version) = try NineP.negotiateVersion(clientMsize: clientMsize, clientVersion: clientVersion, ceiling: ceiling)
        let expectedMsize = min(clientMsize, max(ceiling, NineP.minimumMsize))
        verify(msize == expectedMsize, "negotiated msize \(msize) for client \(clientMsize), ceiling \(ceiling)")
        verify(version == (understood ? NineP.version9P2000L : NineP.versionUnknown),
               "negotiated version \(version) for \(clientVersion)")
        verify(!understood || msize >= NineP.minimumMsize, "accepted msize \(msize) below the floor")
    } catch {
        verify(understood && clientMsize < NineP.minimumMsize, "refused \(clientVersion) at msize \(clientMsize): \(error)")
        _ = error.errno
    }
}

// MARK: - Helpers

/// Errors are expected; formatting them must not crash either.
func exercise(_ error: NinePWireError) {
    _ = error.description
    _ = error.errno
}

/// Traps with `message` and the offending bytes unless `condition` holds. (fatalError rather
/// than precondition: an optimized build drops a precondition's message, not fatalError's.)
@inline(__always)
func check(_ condition: Bool, _ bytes: [UInt8], _ message: @autoclosure () -> String) {
    if !condition { fatalError("\(message()): input \(hex(bytes))") }
}

/// Traps with `message` unless `condition` holds.
@inline(__always)
func verify(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}

func littleEndian32(_ bytes: [UInt8]) -> UInt32 {
    (0..<4).reduce(0) { $0 | UInt32(bytes[$1]) << (8 * UInt32($1)) }
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    var text = ""
    for byte in bytes.prefix(4096) { text.append(digits[Int(byte >> 4)]); text.append(digits[Int(byte & 15)]) }
    return bytes.count > 4096 ? text + "…" : text
}

// MARK: - Seed corpus

/// A few valid frames of each kind, as fuzz inputs (control byte first). The committed
/// corpus in Fuzz/NinePDecoderFuzz/corpus was written from this list.
func seedInputs() -> [(name: String, bytes: [UInt8])] {
    let qid = Qid(type: 0x80, version: 7, path: 0x0123_4567_89AB_CDEF)
    let requests: [(String, UInt16, TMessage)] = [
        ("tversion", NineP.noTag, .version(msize: 8192, version: "9P2000.L")),
        ("tattach", 1, .attach(fid: 0, afid: NineP.noFid, uname: "user", aname: "/export", nUname: 1000)),
        ("twalk", 2, .walk(fid: 0, newFid: 1, names: ["usr", "héllo-日本"])),
        ("tlopen", 3, .lopen(fid: 1, flags: 0o100002)),
        ("tread", 4, .read(fid: 1, offset: 4096, count: 8181)),
        ("twrite", 5, .write(fid: 1, offset: 0, data: Array(0..<32))),
        ("tlcreate", 6, .lcreate(fid: 1, name: "new", flags: 0o101, mode: 0o644, gid: 100)),
        ("tsetattr", 7, .setattr(fid: 1, attributes: SetAttributes(
            valid: 0x1FF, mode: 0o755, uid: 1, gid: 2, size: 1 << 40,
            atimeSeconds: 1, atimeNanoseconds: 2, mtimeSeconds: 3, mtimeNanoseconds: 4))),
        ("tlock", 8, .lock(fid: 1, lock: LockRequest(type: 1, flags: 1, start: 0, length: 0, processID: 42, clientID: "guest"))),
        ("tgetlock", 9, .getlock(fid: 1, lock: LockQuery(type: 0, start: 10, length: 20, processID: 1, clientID: "c"))),
        ("treaddir", 10, .readdir(fid: 1, offset: 0, count: 4085)),
        ("trenameat", 11, .renameat(oldDirFid: 0, oldName: "a", newDirFid: 0, newName: "b")),
        ("txattrcreate", 12, .xattrcreate(fid: 1, name: "user.x", attrSize: 64, flags: 0)),
        ("tmknod", 13, .mknod(dirFid: 0, name: "null", mode: 0o20666, major: 1, minor: 3, gid: 0)),
        ("tflush", 14, .flush(oldTag: 4)),
    ]
    let dirData = (try? DirectoryEntry.pack(
        [DirectoryEntry(qid: qid, offset: 1, type: 4, name: "."),
         DirectoryEntry(qid: qid, offset: 2, type: 8, name: "file")], limit: 4096).data) ?? []
    let replies: [(String, UInt16, RMessage)] = [
        ("rversion", NineP.noTag, .version(msize: 8192, version: "9P2000.L")),
        ("rwalk", 2, .walk(qids: [qid, qid])),
        ("rread", 4, .read(data: Array(0..<16))),
        ("rreaddir", 10, .readdir(data: dirData)),
        ("rlerror", 3, .lerror(errno: 2)),
        ("rgetattr", 5, .getattr(Attributes(
            valid: Attributes.maskBasic, qid: qid, mode: 0o100644, uid: 0, gid: 0, nlink: 1, rdev: 0,
            size: 5, blockSize: 4096, blocks: 8, atimeSeconds: 1, atimeNanoseconds: 0,
            mtimeSeconds: 2, mtimeNanoseconds: 0, ctimeSeconds: 3, ctimeNanoseconds: 0,
            btimeSeconds: 0, btimeNanoseconds: 0, generation: 0, dataVersion: 0))),
        ("rstatfs", 6, .statfs(FilesystemStatistics(type: 0x0102_1994, blockSize: 4096, blocks: 100, blocksFree: 5,
                                                    blocksAvailable: 4, files: 10, filesFree: 5, fsid: 1, nameLength: 255))),
    ]
    var seeds: [(String, [UInt8])] = []
    var session: [UInt8] = []
    for (i, (name, tag, message)) in requests.enumerated() {
        guard let frame = try? NineP.encodeRequest(tag: tag, message) else { continue }
        seeds.append((name, [UInt8(truncatingIfNeeded: i * 37)] + frame))  // varied chunking
        session += frame
    }
    for (name, tag, message) in replies {
        guard let frame = try? NineP.encodeReply(tag: tag, message) else { continue }
        seeds.append((name, [0] + frame))
    }
    seeds.append(("session-chunked", [0x45] + session))  // a whole client stream, varying chunks
    return seeds
}

// MARK: - For the shared entry points (Fuzz/Shared)

/// Asks for the seeds to be written (`scripts/fuzz-… --write-seeds`).
let seedCorpusVariable = "NINEP_FUZZ_WRITE_SEEDS"

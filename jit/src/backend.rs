//! The Cranelift backend: compiles one function into executable memory of its own.

use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};
use rarvm_runtime::verify::VerifiedModule;

use crate::cache::Code;
use crate::gas::Regions;
use crate::translate::{native_signature, translate};

/// The target and Cranelift's reusable contexts.
pub(crate) struct Backend {
    isa: OwnedTargetIsa,
    ctx: Context,
    fctx: FunctionBuilderContext,
    cc: CallConv,
}

/// Memory a compiled function is counted as holding besides its code: what its own
/// executable mapping rounds up to, and the bookkeeping around it.
const PAGE: usize = 4096;

impl Backend {
    /// A backend for the host's architecture (x86-64 or aarch64).
    ///
    /// # Errors
    /// The host is not supported by Cranelift.
    pub fn new() -> Result<Backend, String> {
        let mut flags = settings::builder();
        let set = |flags: &mut settings::Builder, k: &str, v: &str| {
            flags
                .set(k, v)
                .map_err(|e| format!("cranelift setting {k}: {e}"))
        };
        set(&mut flags, "opt_level", "speed")?;
        set(&mut flags, "is_pic", "false")?;
        set(&mut flags, "use_colocated_libcalls", "false")?;
        set(
            &mut flags,
            "enable_verifier",
            if cfg!(debug_assertions) {
                "true"
            } else {
                "false"
            },
        )?;
        let isa = cranelift_native::builder()
            .map_err(|e| format!("no JIT for this host: {e}"))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| format!("no JIT for this host: {e}"))?;
        let cc = isa.default_call_conv();
        Ok(Backend {
            isa,
            ctx: Context::new(),
            fctx: FunctionBuilderContext::new(),
            cc,
        })
    }

    /// Compiles function `f` of `m` into code of its own.
    ///
    /// # Errors
    /// Cranelift rejected the generated code (a bug in the translator).
    pub fn compile(&mut self, m: &VerifiedModule, f: u32, metered: bool) -> Result<Code, String> {
        let mut module = JITModule::new(JITBuilder::with_isa(
            self.isa.clone(),
            default_libcall_names(),
        ));
        let name = &m.func(f).name;
        let signature = native_signature(self.cc);
        let id = module
            .declare_function("rarvm_fn", Linkage::Local, &signature)
            .map_err(|e| format!("declaring `{name}`: {e}"))?;
        self.ctx.clear();
        self.ctx.func.signature = signature;
        let this = module.declare_func_in_func(id, &mut self.ctx.func);
        let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
        let regions = Regions::of(m, f);
        translate(&mut b, m, f, &regions, self.cc, this, metered);
        b.finalize(module.target_config());
        let dump = std::env::var_os("RARVM_JIT_DUMP").is_some();
        if dump {
            self.ctx.set_disasm(true);
            eprintln!("; ---- {name} (CLIF)\n{}", self.ctx.func.display());
        }
        let defined = module.define_function(id, &mut self.ctx);
        if let Err(e) = defined {
            self.ctx.clear();
            // SAFETY: nothing was finalized, so no code of this module is referenced.
            unsafe { module.free_memory() };
            return Err(format!("compiling `{name}`: {e:?}"));
        }
        let compiled = self.ctx.compiled_code().expect("just compiled");
        let size = compiled.code_info().total_size as usize;
        // Below the frame pointer, plus the saved frame pointer and return address, plus a
        // margin for what the prologue pushes before the frame is set up.
        let frame = compiled
            .buffer
            .frame_layout()
            .map_or(4096, |l| l.frame_to_fp_offset)
            + 16
            + 64;
        if dump {
            if let Some(code) = compiled.vcode.as_ref() {
                eprintln!("; ---- {name} (machine code)\n{code}");
            }
        }
        self.ctx.clear();
        if let Err(e) = module.finalize_definitions() {
            // SAFETY: finalizing failed, so no code of this module is referenced.
            unsafe { module.free_memory() };
            return Err(format!("finalizing `{name}`: {e}"));
        }
        let entry = module.get_finalized_function(id);
        let bytes = size.div_ceil(PAGE) * PAGE + PAGE;
        let entries = regions.entry_needs(metered);
        let bytes = bytes + entries.len() * size_of::<u64>();
        Ok(Code::new(module, entry, frame, bytes, entries))
    }
}

#![no_std]
#![no_main]
#[cortex_m_rt::entry]
fn main() -> ! {
    crabmix_firmware::exit(true)
}

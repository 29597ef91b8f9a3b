"""Each RELION job type's commands and nodes for representative options, without RELION.

The expected argv are what RELION's own pipeliner runs for the same job.star (checked against
RELION 5.1 by tests/test_relion_fidelity.py, and against RELION 5.0's source for the 5.0 names);
here they are spelled out so that a change to a job builder fails in a second.
"""

from __future__ import annotations

import pytest

from py2rely_core.interfaces import Node
from py2rely_plugins.relion5.jobtypes import all_job_types, labels

TYPES = {job_type.name: job_type for job_type in all_job_types()}
TOMO = {"in_particles": "Extract/job001/particles.star", "in_tomograms": "data/tomograms.star"}
HALVES = {"in_halfmaps": "Refine3D/job009/run_half1_class001_unfil.mrc",
          "in_refmask": "MaskCreate/job010/mask.mrc", "in_post": "PostProcess/job011/postprocess.star"}


def argv(label: str, job_dir: str, release: str = "5.1", **options: str) -> list[list[str]]:
    """What py2rely runs: every command's words, an MPI program behind `mpirun -n N`."""
    job_type = TYPES[label].for_release(release)
    unknown = set(options) - set(job_type.defaults)
    assert not unknown, f"not options of {label} in RELION {release}: {unknown}"
    complete = {**job_type.defaults, **options}
    return [(["mpirun", "-n", str(c.mpi_ranks)] if c.mpi_ranks > 1 else []) + c.words()
            for c in job_type.commands(complete, job_dir)]


def nodes(label: str, job_dir: str, release: str = "5.1", **options: str) -> tuple[set, set]:
    job_type = TYPES[label].for_release(release)
    complete = {**job_type.defaults, **options}
    return (set(job_type.input_nodes(complete)), set(job_type.output_nodes(complete, job_dir)))


# -- Extract ------------------------------------------------------------------------------------


def test_extract_in_relion_5_1_sizes_boxes_in_angstrom():
    assert argv(labels.EXTRACT, "Extract/job013/", **TOMO, in_trajectories="Polish/job018/motion.star",
                box_size_angst="240", precrop_size_angst="420", binned_size_pix="96",
                subtomo_format="2D stacks", nr_mpi="3", nr_threads="2") == [[
        "mpirun", "-n", "3", "relion_tomo_subtomo_mpi", "--p", "Extract/job001/particles.star",
        "--t", "data/tomograms.star", "--mot", "Polish/job018/motion.star", "--theme", "classic",
        "--o", "Extract/job013/", "--box_size_A", "240", "--precrop_size_A", "420",
        "--binned_size_pix", "96", "--min_frames", "1", "--stack2d", "--float16", "--j", "2",
        "--pipeline_control", "Extract/job013/"]]


@pytest.mark.parametrize(("subtomo_format", "flags"), [
    ("2D stacks", ["--stack2d"]), ("3D pseudo-subtomos", []), ("3D subtomos", ["--real_subtomo"])])
def test_extract_formats_in_relion_5_1(subtomo_format, flags):
    words = argv(labels.EXTRACT, "Extract/job002/", **TOMO, subtomo_format=subtomo_format,
                 do_float16="No", max_dose="50", nr_threads="4")[0]
    assert words[words.index("--max_dose"):words.index("--j")] == ["--max_dose", "50", "--min_frames",
                                                                    "1", *flags]


def test_extract_real_subtomos_declare_the_class2d_particles():
    _, outputs = nodes(labels.EXTRACT, "Extract/job002/", **TOMO, subtomo_format="3D subtomos")
    assert Node("Extract/job002/particles_for_class2d.star",
                "ParticleGroupMetadata.star.relion.class2d") in outputs


def test_extract_in_relion_5_0_sizes_boxes_in_pixels():
    assert argv(labels.EXTRACT, "Extract/job013/", release="5.0", **TOMO, binning="1", box_size="168",
                crop_size="96", do_stack2d="Yes", nr_mpi="1", nr_threads="2") == [[
        "relion_tomo_subtomo", "--p", "Extract/job001/particles.star", "--t", "data/tomograms.star",
        "--theme", "classic", "--o", "Extract/job013/", "--b", "168", "--crop", "96", "--bin", "1",
        "--min_frames", "1", "--float16", "--stack2d", "--j", "2", "--pipeline_control",
        "Extract/job013/"]]


def test_extract_option_names_follow_the_release():
    assert {"binning", "box_size", "crop_size", "do_stack2d"} <= set(TYPES[labels.EXTRACT].for_release(
        "5.0").defaults)
    options_51 = set(TYPES[labels.EXTRACT].for_release("5.1").defaults)
    assert {"box_size_angst", "precrop_size_angst", "binned_size_pix", "subtomo_format"} <= options_51
    assert not {"binning", "box_size", "crop_size", "do_stack2d"} & options_51


def test_an_optimisation_set_is_the_input_node_without_direct_entries():
    inputs, _ = nodes(labels.EXTRACT, "Extract/job032/", use_direct_entries="No",
                      in_optimisation="Refine3D/job009/run_optimisation_set.star")
    assert inputs == {Node("Refine3D/job009/run_optimisation_set.star", "TomoOptimisationSet.star.relion")}
    words = argv(labels.EXTRACT, "Extract/job032/", use_direct_entries="No",
                 in_optimisation="Refine3D/job009/run_optimisation_set.star")[0]
    assert words[1:3] == ["--i", "Refine3D/job009/run_optimisation_set.star"]


def test_inconsistent_tomo_inputs_are_refused_as_relion_refuses_them():
    with pytest.raises(ValueError, match="no optimisation set"):
        argv(labels.EXTRACT, "Extract/job002/", use_direct_entries="No")
    with pytest.raises(ValueError, match="in_optimisation is set"):
        argv(labels.EXTRACT, "Extract/job002/", **TOMO, in_optimisation="x/optimisation_set.star")
    with pytest.raises(ValueError, match="no particle set"):
        argv(labels.EXTRACT, "Extract/job002/", in_tomograms="data/tomograms.star")


# -- Reconstruct --------------------------------------------------------------------------------


def test_reconstruct_with_crop_snr_and_symmetry():
    assert argv(labels.RECONSTRUCT, "Reconstruct/job010/", **TOMO, binning="1", box_size="168",
                crop_size="96", snr="0.0001", sym_name="D2", nr_mpi="3", nr_threads="2") == [[
        "mpirun", "-n", "3", "relion_tomo_reconstruct_particle_mpi", "--p",
        "Extract/job001/particles.star", "--t", "data/tomograms.star", "--theme", "classic", "--o",
        "Reconstruct/job010/", "--b", "168", "--crop", "96", "--bin", "1", "--SNR", "0.0001", "--j",
        "2", "--j_out", "2", "--j_in", "1", "--sym", "D2", "--pipeline_control", "Reconstruct/job010/"]]


def test_reconstruct_imposes_helical_symmetry_like_relion():
    commands = argv(labels.RECONSTRUCT, "Reconstruct/job037/", **TOMO, do_helix="Yes", nr_mpi="2")
    assert commands[0][commands[0].index("--bin") + 2:commands[0].index("--j")] == [
        "--nr_helical_asu", "1", "--helical_twist", "-1", "--helical_rise", "4.75"]
    assert commands[1:] == [
        ["relion_helix_toolbox", "--impose", "--i", f"Reconstruct/job037/{name}.mrc", "--o",
         f"Reconstruct/job037/helical_{name}.mrc", "--twist", "-1", "--rise", "4.75", "--z_percentage",
         "0.2", "--cyl_outer_diameter", "200", "--pipeline_control", "Reconstruct/job037/"]
        for name in ("half1", "half2", "merged")]
    _, outputs = nodes(labels.RECONSTRUCT, "Reconstruct/job037/", **TOMO, do_helix="Yes")
    assert {Node("Reconstruct/job037/helical_half1.mrc", "DensityMap.mrc.relion.tomo.halfmap.reconstruct"),
            Node("Reconstruct/job037/helical_merged.mrc", "DensityMap.mrc.relion.tomo.map.reconstruct")
            } <= outputs


# -- relion_refine: Refine3D, Class3D, InitialModel ------------------------------------------------

REFINE = {**TOMO, "fn_ref": "Reconstruct/job002/merged.mrc", "nr_mpi": "3", "nr_threads": "2"}


def test_refine3d_sampling_labels_are_relions_oversampled_steps():
    words = argv(labels.REFINE3D, "Refine3D/job003/", **REFINE, sampling="15 degrees",
                 auto_local_sampling="7.5 degrees", offset_range="2", offset_step="0.5")[0]
    start = words.index("--oversampling")
    assert words[start:start + 10] == ["--oversampling", "1", "--healpix_order", "1",
                                       "--auto_local_healpix_order", "2", "--offset_range", "2",
                                       "--offset_step", "1"]


def test_refine3d_with_every_branch_in_relion_5_1():
    assert argv(labels.REFINE3D, "Refine3D/job042/", **REFINE, fn_mask="MaskCreate/job006/mask.mrc",
                do_solvent_fsc="Yes", use_gpu="Yes", gpu_ids="0:1", do_blush="Yes", auto_faster="Yes",
                relax_sym="C2", do_preread_images="Yes", do_parallel_discio="No",
                do_combine_thru_disc="Yes", do_pad1="Yes", ctf_intact_first_peak="Yes", sigma_tilt="10",
                ref_correct_greyscale="Yes", trust_ref_size="No", do_zero_mask="No", sym_name="D2",
                sampling="15 degrees", auto_local_sampling="0.9 degrees", offset_range="4",
                offset_step="0.75", nr_pool="8", other_args="--maxsig 500") == [[
        "mpirun", "-n", "3", "relion_refine_mpi", "--o", "Refine3D/job042/run", "--auto_refine",
        "--split_random_halves", "--i", "Extract/job001/particles.star", "--tomograms",
        "data/tomograms.star", "--sigma_tilt", "10", "--ref", "Reconstruct/job002/merged.mrc",
        "--ini_high", "60", "--blush", "--blush_model", "v1.0", "--no_parallel_disc_io",
        "--preread_images", "--pool", "8", "--pad", "1", "--auto_ignore_angles", "--auto_resol_angles",
        "--ctf", "--ctf_intact_first_peak", "--particle_diameter", "200", "--flatten_solvent",
        "--solvent_mask", "MaskCreate/job006/mask.mrc", "--solvent_correct_fsc", "--oversampling", "1",
        "--healpix_order", "1", "--auto_local_healpix_order", "5", "--offset_range", "4",
        "--offset_step", "1.5", "--sym", "D2", "--low_resol_join_halves", "40", "--norm", "--scale",
        "--relax_sym", "C2", "--j", "2", "--gpu", "0:1", "--maxsig", "500", "--pipeline_control",
        "Refine3D/job042/"]]


def test_blush_model_exists_from_relion_5_1():
    words_50 = argv(labels.REFINE3D, "Refine3D/job003/", release="5.0", **REFINE, do_blush="Yes")[0]
    assert "--blush" in words_50 and "--blush_model" not in words_50
    assert "blush_version" not in TYPES[labels.REFINE3D].for_release("5.0").defaults
    words_51 = argv(labels.CLASS3D, "Class3D/job010/", **REFINE, do_blush="Yes")[0]
    assert words_51[words_51.index("--blush"):words_51.index("--blush") + 3] == [
        "--blush", "--blush_model", "v1.0"]


def test_refinement_after_polishing_passes_and_declares_the_trajectories():
    traj = {"in_tomograms": "Polish/job018/tomograms.star", "in_trajectories": "Polish/job018/motion.star"}
    for label, job_dir in ((labels.REFINE3D, "Refine3D/job020/"), (labels.CLASS3D, "Class3D/job021/")):
        words = argv(label, job_dir, **{**REFINE, **traj})[0]
        assert words[words.index("--i"):words.index("--ref")] == [
            "--i", "Extract/job001/particles.star", "--tomograms", "Polish/job018/tomograms.star",
            "--trajectories", "Polish/job018/motion.star"]
        inputs, _ = nodes(label, job_dir, **{**REFINE, **traj})
        assert Node("Polish/job018/motion.star", "TomoTrajectoryData.star.relion") in inputs


def test_refine3d_refuses_what_relion_refuses_or_py2rely_does_not_build():
    with pytest.raises(ValueError, match="odd"):
        argv(labels.REFINE3D, "Refine3D/job003/", **{**REFINE, "nr_mpi": "4"})
    with pytest.raises(ValueError, match="helical"):
        argv(labels.REFINE3D, "Refine3D/job003/", **REFINE, do_helix="Yes")
    with pytest.raises(ValueError, match="helical"):
        argv(labels.CLASS3D, "Class3D/job003/", **REFINE, do_helix="Yes")


def test_class3d_with_local_searches_and_without_alignment():
    words = argv(labels.CLASS3D, "Class3D/job045/", **REFINE, nr_classes="4", nr_iter="5",
                 tau_fudge="2", do_fast_subsets="Yes", highres_limit="8", do_local_ang_searches="Yes",
                 sigma_angles="5", relax_sym="C2", allow_coarser="Yes", sampling="7.5 degrees",
                 offset_range="3", offset_step="0.75")[0]
    start = words.index("--iter")
    assert words[start:] == [
        "--iter", "5", "--tau2_fudge", "2", "--particle_diameter", "200", "--fast_subsets", "--K", "4",
        "--flatten_solvent", "--zero_mask", "--strict_highres_exp", "8", "--oversampling", "1",
        "--healpix_order", "2", "--sigma_ang", "1.66667", "--relax_sym", "C2", "--offset_range", "3",
        "--offset_step", "1.5", "--allow_coarser_sampling", "--sym", "C1", "--norm", "--scale", "--j",
        "2", "--pipeline_control", "Class3D/job045/"]
    unaligned = argv(labels.CLASS3D, "Class3D/job046/", **{**REFINE, "nr_mpi": "1"},
                     dont_skip_align="No")[0]
    assert unaligned[0] == "relion_refine" and "--skip_align" in unaligned
    assert "--healpix_order" not in unaligned


def test_class3d_declares_both_optimisation_sets():
    _, outputs = nodes(labels.CLASS3D, "Class3D/job010/", **REFINE, nr_classes="2", nr_iter="25")
    assert {node.path for node in outputs} == {
        f"Class3D/job010/run_it025_{name}" for name in
        ("data.star", "optimiser.star", "class001.mrc", "class002.mrc", "optimisation_set.star")
    } | {"Class3D/job010/run_optimisation_set.star"}


def test_initial_model_searches_relions_offset_range_and_declares_every_class():
    commands = argv(labels.INITIAL_MODEL, "InitialModel/job047/", **TOMO, sym_name="D2", do_run_C1="Yes",
                    sigma_tilt="5", nr_classes="2", do_solvent="No", use_gpu="Yes", gpu_ids="0",
                    nr_iter="50", tau_fudge="3", ctf_intact_first_peak="Yes", nr_threads="4",
                    other_args="--min_sigma2_offset 360000")
    assert commands == [
        ["relion_refine", "--o", "InitialModel/job047/run", "--iter", "50", "--grad", "--denovo_3dref",
         "--i", "Extract/job001/particles.star", "--tomograms", "data/tomograms.star", "--sigma_tilt",
         "5", "--ctf", "--ctf_intact_first_peak", "--K", "2", "--sym", "C1", "--zero_mask",
         "--dont_combine_weights_via_disc", "--pool", "3", "--pad", "1", "--particle_diameter", "200",
         "--oversampling", "1", "--healpix_order", "1", "--offset_range", "6", "--offset_step", "2",
         "--auto_sampling", "--tau2_fudge", "3", "--j", "4", "--gpu", "0", "--min_sigma2_offset",
         "360000", "--pipeline_control", "InitialModel/job047/"],
        ["relion_align_symmetry", "--i", "InitialModel/job047/run_it050_model.star", "--o",
         "InitialModel/job047/initial_model.mrc", "--sym", "D2", "--apply_sym", "--select_largest_class",
         "--pipeline_control", "InitialModel/job047/"]]
    assert "do_pad1" not in TYPES[labels.INITIAL_MODEL].defaults
    _, outputs = nodes(labels.INITIAL_MODEL, "InitialModel/job047/", **TOMO, nr_classes="2", nr_iter="50")
    assert {"InitialModel/job047/run_it050_class001.mrc", "InitialModel/job047/run_it050_class002.mrc",
            "InitialModel/job047/initial_model.mrc"} <= {node.path for node in outputs}


def test_initial_model_refuses_mpi():
    with pytest.raises(ValueError, match="MPI"):
        argv(labels.INITIAL_MODEL, "InitialModel/job002/", **TOMO, nr_mpi="3")


# -- maps, subsets, bin-1 refinements -----------------------------------------------------------


def test_mask_create_with_helix():
    assert argv(labels.MASK_CREATE, "MaskCreate/job050/", fn_in="Reconstruct/job005/merged.mrc",
                do_helix="Yes", helical_z_percentage="20", angpix="2.5", nr_threads="3") == [[
        "relion_mask_create", "--i", "Reconstruct/job005/merged.mrc", "--o", "MaskCreate/job050/mask.mrc",
        "--lowpass", "15", "--angpix", "2.5", "--ini_threshold", "0.02", "--extend_inimask", "3",
        "--width_soft_edge", "3", "--helix", "--z_percentage", "0.2", "--j", "3", "--pipeline_control",
        "MaskCreate/job050/"]]


def test_postprocess_with_every_branch():
    assert argv(labels.POSTPROCESS, "PostProcess/job051/", fn_in="Reconstruct/job005/half1.mrc",
                fn_mask="MaskCreate/job006/mask.mrc", angpix="2.5", do_auto_bfac="No", do_adhoc_bfac="Yes",
                adhoc_bfac="-500", fn_mtf="data/mtf.star", mtf_angpix="1.1", do_skip_fsc_weighting="Yes",
                low_pass="8") == [[
        "relion_postprocess", "--mask", "MaskCreate/job006/mask.mrc", "--i", "Reconstruct/job005/half1.mrc",
        "--o", "PostProcess/job051/postprocess", "--angpix", "2.5", "--mtf", "data/mtf.star",
        "--mtf_angpix", "1.1", "--adhoc_bfac", "-500", "--skip_fsc_weighting", "--low_pass", "8",
        "--pipeline_control", "PostProcess/job051/"]]


def test_selections_and_join():
    assert argv(labels.REMOVE_DUPLICATES, "Select/job004/", fn_data="Refine3D/job003/run_data.star",
                duplicate_threshold="48", image_angpix="2.5") == [[
        "relion_star_handler", "--i", "Refine3D/job003/run_data.star", "--o", "Select/job004/particles.star",
        "--remove_duplicates", "48", "--image_angpix", "2.5", "--pipeline_control", "Select/job004/"]]
    assert argv(labels.SELECT_ON_VALUE, "Select/job012/", fn_data="Class3D/job010/run_it025_data.star",
                select_label="rlnClassNumber", select_minval="1", select_maxval="2") == [[
        "relion_star_handler", "--i", "Class3D/job010/run_it025_data.star", "--o",
        "Select/job012/particles.star", "--select", "rlnClassNumber", "--minval", "1", "--maxval", "2",
        "--pipeline_control", "Select/job012/"]]
    # RELION writes the file list with a space inside each quote.
    assert argv(labels.JOIN_PARTICLES, "JoinStar/job013/", fn_part1="Select/job012/particles.star",
                fn_part2="Select/job014/particles.star") == [[
        "relion_star_handler", "--combine", "--i",
        " Select/job012/particles.star Select/job014/particles.star ", "--check_duplicates",
        "rlnImageName", "--o", "JoinStar/job013/join_particles.star", "--pipeline_control",
        "JoinStar/job013/"]]


def test_ctf_refine_and_polish():
    assert argv(labels.CTF_REFINE, "CtfRefine/job017/", **TOMO, **HALVES, box_size="168", do_reg_def="Yes",
                **{"lambda": "0.1"}, nr_mpi="3", nr_threads="1") == [[
        "mpirun", "-n", "3", "relion_tomo_refine_ctf_mpi", "--p", "Extract/job001/particles.star", "--t",
        "data/tomograms.star", "--ref1", "Refine3D/job009/run_half1_class001_unfil.mrc", "--ref2",
        "Refine3D/job009/run_half2_class001_unfil.mrc", "--mask", "MaskCreate/job010/mask.mrc", "--fsc",
        "PostProcess/job011/postprocess.star", "--theme", "classic", "--o", "CtfRefine/job017/", "--b",
        "168", "--do_defocus", "--d0", "-3000", "--d1", "3000", "--do_reg_defocus", "--lambda", "0.1",
        "--do_scale", "--per_frame_scale", "--j", "1", "--pipeline_control", "CtfRefine/job017/"]]
    assert argv(labels.POLISH, "Polish/job018/", **TOMO, **HALVES,
                in_trajectories="Polish/job016/motion.star", box_size="168", do_motion="Yes",
                do_sq_exp_ker="Yes", sigma_vel="0.5", sigma_div="2000",
                nr_mpi="1", nr_threads="2") == [[
        "relion_tomo_align", "--p", "Extract/job001/particles.star", "--t", "data/tomograms.star", "--mot",
        "Polish/job016/motion.star", "--ref1", "Refine3D/job009/run_half1_class001_unfil.mrc", "--ref2",
        "Refine3D/job009/run_half2_class001_unfil.mrc", "--mask", "MaskCreate/job010/mask.mrc", "--fsc",
        "PostProcess/job011/postprocess.star", "--theme", "classic", "--o", "Polish/job018/", "--b", "168",
        "--r", "5", "--motion", "--s_vel", "0.5", "--s_div", "2000", "--sq_exp_ker", "--j", "2",
        "--pipeline_control", "Polish/job018/"]]
